/** The agent's dispatch name: the worker registers under it and the token server dispatches it into rooms. */
export const DEFAULT_AGENT_NAME = 'letta-voice-agent';
export const AGENT_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
