// Latency charts as standalone SVG, rendered server-side by vega-lite + vega (no browser, no network).
import * as vega from 'vega';
import * as vl from 'vega-lite';
import type { TopLevelSpec } from 'vega-lite';
import type { TurnTimeline } from '../simulation/harness/metrics.js';

/** Stage colours by who is responsible for the time. */
const KINDS = {
  'turn-taking': '#9e9e9e',
  provider: '#4c78a8',
  'voice-to-voice': '#e45756',
} as const;

type Kind = keyof typeof KINDS;

interface Bar {
  turn: string;
  stage: string;
  order: number;
  kind: Kind;
  start: number;
  end: number;
  label: string;
}

/** The stages of one turn, in ms relative to the moment the caller stopped talking. */
function barsOf(turn: string, t: TurnTimeline): Bar[] {
  const rel = (at: number | undefined) => (at === undefined ? undefined : at - t.speechEnd);
  const stages: Array<[string, Kind, number | undefined, number | undefined]> = [
    ['STT final', 'provider', 0, rel(t.sttFinalAt)],
    ['end of turn (VAD + endpointing)', 'turn-taking', 0, rel(t.eouAt)],
    ['LLM: request → first token', 'provider', rel(t.llmRequestAt), rel(t.llmFirstTokenAt)],
    ['LLM: tokens of first sentence', 'provider', rel(t.llmFirstTokenAt), rel(t.llmFirstSentenceAt)],
    ['TTS: request → first byte', 'provider', rel(t.ttsRequestAt), rel(t.ttsFirstByteAt)],
    ['TTS: audio the plugin buffers', 'provider', rel(t.ttsFirstByteAt), rel(t.ttsFirstFrameReadyAt)],
    ['caller stops → agent audible', 'voice-to-voice', 0, rel(t.playoutAt)],
  ];
  return stages.flatMap(([stage, kind, start, end], order) =>
    start === undefined || end === undefined || end < start
      ? []
      : [{ turn, stage, order, kind, start, end, label: `${Math.round(end - start)} ms` }],
  );
}

/**
 * A waterfall per turn: provider stages in blue, the turn decision in grey, voice-to-voice in red. White space
 * between blue bars on the path to the red bar's end is the worker's (and framework's) own time.
 */
export async function renderWaterfallSvg(turns: ReadonlyArray<{ label: string; timeline: TurnTimeline }>, title: string): Promise<string> {
  const values = turns.flatMap((t) => barsOf(t.label, t.timeline));
  const spec: TopLevelSpec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: { text: title, subtitle: 'ms after the caller stopped talking; gaps on the way to the red bar are the worker\'s own time' },
    data: { values },
    facet: { row: { field: 'turn', type: 'nominal', title: null, header: { labelAngle: 0, labelAlign: 'left', labelFontWeight: 'bold' } } },
    spec: {
      width: 560,
      layer: [
        {
          mark: { type: 'bar', height: 12 },
          encoding: {
            y: { field: 'stage', type: 'nominal', sort: { field: 'order' }, title: null },
            x: { field: 'start', type: 'quantitative', title: 'ms' },
            x2: { field: 'end' },
            color: {
              field: 'kind',
              type: 'nominal',
              scale: { domain: Object.keys(KINDS), range: Object.values(KINDS) },
              legend: { title: null, orient: 'bottom' },
            },
          },
        },
        {
          mark: { type: 'text', align: 'left', dx: 4, fontSize: 10 },
          encoding: {
            y: { field: 'stage', type: 'nominal', sort: { field: 'order' } },
            x: { field: 'end', type: 'quantitative' },
            text: { field: 'label' },
          },
        },
      ],
    },
    resolve: { scale: { x: 'shared' } },
  };
  return renderSvg(spec);
}

export interface VariantSummary {
  variant: string;
  p50: number;
  p95: number;
}

/** p50 (bar) and p95 (tick) voice-to-voice per variant. */
export async function renderSummarySvg(rows: readonly VariantSummary[], title: string): Promise<string> {
  const spec: TopLevelSpec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: { text: title, subtitle: 'bar: p50, tick: p95 (ms)' },
    data: { values: rows.map((r) => ({ ...r, p50label: `${Math.round(r.p50)}` })) },
    width: 520,
    layer: [
      {
        mark: { type: 'bar', height: 14, color: '#4c78a8' },
        encoding: { y: { field: 'variant', type: 'nominal', sort: null, title: null }, x: { field: 'p50', type: 'quantitative', title: 'voice-to-voice, ms' } },
      },
      {
        mark: { type: 'tick', color: '#e45756', thickness: 2 },
        encoding: { y: { field: 'variant', type: 'nominal', sort: null }, x: { field: 'p95', type: 'quantitative' } },
      },
      {
        mark: { type: 'text', align: 'left', dx: 4, fontSize: 10 },
        encoding: { y: { field: 'variant', type: 'nominal', sort: null }, x: { field: 'p95', type: 'quantitative' }, text: { field: 'p50label' } },
      },
    ],
  };
  return renderSvg(spec);
}

async function renderSvg(spec: TopLevelSpec): Promise<string> {
  const compiled = vl.compile(spec).spec;
  // renderer 'none': no canvas or DOM needed; toSVG() builds the markup directly.
  const view = new vega.View(vega.parse(compiled), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}
