import { describe, expect, it } from 'vitest';
import { redactingLogger, type Logger } from '../../src/logging.js';

function capture(): { logger: Logger; lines: Array<{ obj: object; msg?: string }> } {
  const lines: Array<{ obj: object; msg?: string }> = [];
  const push = (obj: object, msg?: string) => lines.push({ obj, msg });
  return { logger: { debug: push, info: push, warn: push, error: push }, lines };
}

describe('redacting logger', () => {
  it('removes configured secrets from messages, nested fields and errors', () => {
    const { logger, lines } = capture();
    const log = redactingLogger(['sk-live-123456', 'letta-pass-9876'], logger);
    log.warn({ err: new Error('401 for key sk-live-123456'), nested: { url: 'http://x?token=letta-pass-9876' }, list: ['sk-live-123456'] }, 'key sk-live-123456 rejected');

    const text = JSON.stringify(lines);
    expect(text).not.toContain('sk-live-123456');
    expect(text).not.toContain('letta-pass-9876');
    expect(lines[0]!.msg).toBe('key [redacted] rejected');
    expect(lines[0]!.obj).toMatchObject({ err: '401 for key [redacted]', nested: { url: 'http://x?token=[redacted]' } });
  });
});
