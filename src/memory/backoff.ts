export type BackoffPolicy = {
  baseMs: number;
  maxMs: number;
};

/**
 * Exponential backoff with "equal jitter": half the step is fixed so a retry never fires
 * immediately, the other half is random so many agents recovering together spread out.
 */
export function backoffDelayMs(attempt: number, policy: BackoffPolicy, random: () => number = Math.random): number {
  const exponent = Math.max(0, attempt - 1);
  const step = Math.min(policy.maxMs, policy.baseMs * 2 ** Math.min(exponent, 30));
  return Math.round(step / 2 + random() * (step / 2));
}
