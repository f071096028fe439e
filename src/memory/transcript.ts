import type { PendingTurn } from './turn.js';

/** Marker the agent can rely on; the voice pipeline cut the reply off mid-sentence. */
export const INTERRUPTED_NOTE = '[interrupted: the user only heard this part]';

/** Renders one turn as the text Letta stores, so the agent sees what was said and what was heard. */
export function formatTurnTranscript(turn: PendingTurn): string {
  const lines = [
    `[voice turn ${new Date(turn.userAt).toISOString()}]`,
    `User: ${turn.userText}`,
    `Assistant (spoken): ${turn.assistantText}`,
  ];
  if (turn.interrupted) lines.push(INTERRUPTED_NOTE);
  return lines.join('\n');
}
