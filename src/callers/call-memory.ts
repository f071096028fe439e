import type { LettaAgentMemory } from '../letta/agent-memory.js';

/** What one call needs from its memory: the agent to write to, core memory for the fast path, session-start refresh. */
export type CallMemory = Pick<
  LettaAgentMemory,
  'agentId' | 'blocks' | 'whenAgent' | 'refreshAtSessionStart' | 'refreshInBackground' | 'settled'
>
  & {
    /** Interim and final transcripts of the caller's current utterance (caller scope: archival search). */
    onTranscript?(text: string): void;
  };
