// Names shared with the worker. The lk.* names are what @livekit/agents 1.8
// publishes (dist/constants.js); the letta.* names come from
// src/telemetry/turn-publisher.ts and the browser test checks they match.
export const TOPIC_TRANSCRIPTION = 'lk.transcription';
export const ATTR_TRANSCRIPTION_FINAL = 'lk.transcription_final';
export const ATTR_TRANSCRIPTION_SEGMENT_ID = 'lk.segment_id';
export const ATTR_TRANSCRIPTION_TRACK_ID = 'lk.transcribed_track_id';
export const ATTR_AGENT_STATE = 'lk.agent.state';

export const TOPIC_TURN_METRICS = 'letta.turn_metrics';
export const ATTR_AGENT_MODE = 'letta.mode';

// Same rule as src/web/validation.ts, so most typos are caught before a request.
export const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
