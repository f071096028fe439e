// Per-turn latency readout fed by the worker's letta.turn_metrics text stream
// (payload: TurnMetricsMessage from src/telemetry/turn-publisher.ts).

const HISTORY_LENGTH = 6;
const MODES = new Set(['hybrid', 'letta']);

/** @param {unknown} ms */
export function formatMs(ms) {
  if (typeof ms !== 'number' || !Number.isFinite(ms)) return '—';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  return `${(ms / 1000).toFixed(2)} s`;
}

/**
 * Parses a metrics message; returns null for anything that is not one, so a
 * malformed message can never break the page.
 * @param {string} text
 */
export function parseTurnMetrics(text) {
  let value;
  try {
    value = JSON.parse(text);
  } catch {
    return null;
  }
  if (!value || typeof value !== 'object') return null;
  if (typeof value.turn !== 'number' || !MODES.has(value.mode)) return null;
  return value;
}

export class LatencyPanel {
  /** @param {HTMLElement} root @param {HTMLOListElement} history @param {HTMLElement} turnLabel */
  constructor(root, history, turnLabel) {
    this.root = root;
    this.history = history;
    this.turnLabel = turnLabel;
  }

  clear() {
    for (const dd of this.root.querySelectorAll('dd[data-metric]')) dd.textContent = '—';
    this.history.replaceChildren();
    this.turnLabel.textContent = '';
  }

  /** @param {Record<string, unknown> & {turn: number, mode: string}} m */
  show(m) {
    for (const dd of this.root.querySelectorAll('dd[data-metric]')) {
      const key = dd.getAttribute('data-metric') ?? '';
      const value = m[key];
      dd.textContent = key === 'queueDepth' ? (typeof value === 'number' ? String(value) : '—') : formatMs(value);
    }
    this.turnLabel.textContent = `(turn ${m.turn}, ${m.mode})`;
    const line = document.createElement('li');
    line.value = m.turn;
    line.textContent = `${m.mode}: first token ${formatMs(m.llmTtftMs)}, LLM ${formatMs(m.llmTotalMs)}, queue ${
      typeof m.queueDepth === 'number' ? m.queueDepth : '—'
    }, write lag ${formatMs(m.writeLagMs)}`;
    this.history.prepend(line);
    while (this.history.children.length > HISTORY_LENGTH) this.history.lastElementChild?.remove();
  }
}
