/** One finished conversational turn, as the voice session hands it over. */
export type TurnInput = {
  agentId: string;
  sessionId?: string;
  userText: string;
  /** Only what was actually played to the user, never the full generated reply. */
  assistantText: string;
  interrupted: boolean;
  /** Epoch ms when the user finished speaking. */
  userAt: number;
  /** Epoch ms when the assistant started speaking. */
  assistantAt: number;
};

/** A turn owned by the memory queue until Letta acknowledges it. */
export type PendingTurn = TurnInput & {
  readonly id: string;
  /** Idempotency key sent to Letta; identical on every retry, across restarts. */
  readonly otid: string;
  readonly enqueuedAt: number;
  /** Delivery attempts made so far (a replayed turn counts as possibly attempted). */
  attempts: number;
};

export type DeadLetter = {
  readonly turn: PendingTurn;
  readonly reason: string;
  readonly status?: number;
  readonly deadAt: number;
};

export function createPendingTurn(input: TurnInput, now: number): PendingTurn {
  return {
    agentId: input.agentId,
    ...(input.sessionId === undefined ? {} : { sessionId: input.sessionId }),
    userText: input.userText,
    assistantText: input.assistantText,
    interrupted: input.interrupted,
    userAt: input.userAt,
    assistantAt: input.assistantAt,
    id: `turn-${crypto.randomUUID()}`,
    otid: crypto.randomUUID(),
    enqueuedAt: now,
    attempts: 0,
  };
}

export function assertValidTurnInput(input: TurnInput): void {
  if (typeof input.agentId !== 'string' || input.agentId.trim() === '') {
    throw new TypeError('TurnInput.agentId must be a non-empty string');
  }
  for (const key of ['userAt', 'assistantAt'] as const) {
    if (!Number.isFinite(input[key])) throw new TypeError(`TurnInput.${key} must be epoch milliseconds`);
  }
}
