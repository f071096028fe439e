// Voice room page: fetches a token from this server, joins the LiveKit room the
// agent is dispatched to, and shows agent state, mode, latency and transcript.
import { Room, RoomEvent, Track } from '/vendor/livekit-client.esm.mjs';
import { describeConnectError, describeMicError } from './errors.js';
import { LatencyPanel, parseTurnMetrics } from './metrics.js';
import {
  ATTR_AGENT_MODE,
  ATTR_AGENT_STATE,
  NAME_PATTERN,
  TOPIC_TRANSCRIPTION,
  TOPIC_TURN_METRICS,
} from './protocol.js';
import { consumeTranscriptionStream, Transcript } from './transcript.js';

/** @param {string} id */
const $ = (id) => {
  const el = document.getElementById(id);
  if (!el) throw new Error(`missing #${id}`);
  return el;
};

const ui = {
  form: /** @type {HTMLFormElement} */ ($('join-form')),
  room: /** @type {HTMLInputElement} */ ($('room')),
  identity: /** @type {HTMLInputElement} */ ($('identity')),
  memoryOwner: $('memory-owner'),
  connect: /** @type {HTMLButtonElement} */ ($('connect')),
  mic: /** @type {HTMLButtonElement} */ ($('mic')),
  startAudio: /** @type {HTMLButtonElement} */ ($('start-audio')),
  status: $('connection-status'),
  alert: $('alert'),
  agentState: $('agent-state'),
  mode: $('mode'),
  audioSink: $('audio-sink'),
};

const transcript = new Transcript(
  /** @type {HTMLOListElement} */ ($('transcript')),
  $('transcript-empty'),
);
const latency = new LatencyPanel($('latency'), /** @type {HTMLOListElement} */ ($('turn-history')), $('latency-turn'));

const AGENT_STATE_LABELS = {
  initializing: 'Starting…',
  idle: 'Idle',
  listening: 'Listening',
  thinking: 'Thinking',
  speaking: 'Speaking',
};

/** @type {Room | null} */
let room = null;
let busy = false;
/** Mode last seen in a metrics message, used until the agent sets its attribute. */
let metricsMode = '';

// ---- small UI helpers -------------------------------------------------------

/** @param {string} state @param {string} label */
function setStatus(state, label) {
  ui.status.dataset.state = state;
  ui.status.textContent = label;
}

/** @param {string} message @param {'error' | 'info'} [level] @param {string} [kind] */
function showAlert(message, level = 'error', kind = '') {
  ui.alert.textContent = message;
  ui.alert.dataset.level = level;
  ui.alert.dataset.kind = kind;
  ui.alert.hidden = false;
}

function clearAlert() {
  ui.alert.hidden = true;
  ui.alert.textContent = '';
  ui.alert.dataset.kind = '';
}

function renderButtons() {
  const connected = room !== null;
  ui.connect.disabled = busy;
  ui.connect.dataset.action = connected ? 'disconnect' : 'connect';
  ui.connect.textContent = busy ? 'Connecting…' : connected ? 'Disconnect' : 'Connect';
  ui.room.disabled = connected || busy;
  ui.identity.disabled = connected || busy;
  ui.mic.disabled = !connected;
  const micOn = connected && room?.localParticipant.isMicrophoneEnabled === true;
  ui.mic.setAttribute('aria-pressed', String(micOn));
  ui.mic.textContent = micOn ? 'Mic on' : 'Mic off';
  ui.mic.title = micOn ? 'Press to mute' : 'Press to unmute';
}

function findAgent() {
  if (!room) return undefined;
  for (const p of room.remoteParticipants.values()) {
    if (p.isAgent || p.attributes[ATTR_AGENT_STATE] !== undefined) return p;
  }
  return undefined;
}

function renderAgent() {
  const agent = findAgent();
  let state = 'offline';
  let label = 'Not connected';
  if (room && !agent) {
    state = 'absent';
    label = 'Waiting for agent…';
  } else if (agent) {
    state = agent.attributes[ATTR_AGENT_STATE] ?? 'joined';
    label = AGENT_STATE_LABELS[/** @type {keyof typeof AGENT_STATE_LABELS} */ (state)] ?? 'Joined';
  }
  ui.agentState.dataset.state = state;
  ui.agentState.textContent = label;

  const mode = agent?.attributes[ATTR_AGENT_MODE] || metricsMode;
  ui.mode.dataset.mode = mode || 'unknown';
  ui.mode.textContent = mode === 'hybrid' ? 'Hybrid' : mode === 'letta' ? 'Letta' : '—';
}

// ---- identity: whose memory the call uses -------------------------------------------

/**
 * What /api/identity said: the server binds the identity (cookie: this browser; login: the signed-in user) or the
 * page may choose it (client: development setting, or shared memory where it keys nothing).
 * @type {{identity: string | null, identitySource: 'cookie' | 'login' | 'client', memoryScope: 'caller' | 'shared'} | null}
 */
let identityInfo = null;
/** Resolves once /api/identity answered (or failed); connecting waits for it so a bound identity is never typed over. */
let identityLoaded = Promise.resolve();

function identityBound() {
  return identityInfo !== null && identityInfo.identitySource !== 'client';
}

/** @param {string | null} identity */
function renderMemoryOwner(identity) {
  const info = identityInfo;
  let text = 'Memory: unknown (the token server did not say)';
  if (info?.memoryScope === 'shared') text = 'Memory: shared by every caller of this agent';
  else if (info?.identitySource === 'cookie') text = `Memory: your own, kept for this browser (${identity})`;
  else if (info?.identitySource === 'login') text = `Memory: your own, signed in as ${identity}`;
  else if (info?.identitySource === 'client') text = `Memory: whoever uses the name “${identity}” (development setting)`;
  ui.memoryOwner.textContent = text;
  ui.memoryOwner.dataset.source = info?.identitySource ?? 'unknown';
  ui.memoryOwner.dataset.scope = info?.memoryScope ?? 'unknown';
}

async function loadIdentity() {
  try {
    const res = await fetch('/api/identity', { credentials: 'same-origin' });
    const body = await res.json().catch(() => ({}));
    if (!res.ok) {
      showAlert(body.error ? `Identity: ${body.error}` : `Identity request failed (HTTP ${res.status}).`, 'error', 'identity');
      return;
    }
    identityInfo = body;
  } catch {
    showAlert('The token server cannot be reached. Is `npm run web` running?', 'error', 'token');
    return;
  }
  if (identityBound()) {
    ui.identity.value = identityInfo?.identity ?? '';
    ui.identity.readOnly = true;
    ui.identity.title = 'Set by the server: your calls always use your own memory';
  }
  renderMemoryOwner(identityBound() ? (identityInfo?.identity ?? null) : ui.identity.value.trim());
}

// ---- token ---------------------------------------------------------------------

/**
 * @param {string} roomName
 * @param {string | undefined} identity left out when the server binds it
 * @returns {Promise<{token: string, url: string, room: string, identity: string}>}
 */
async function fetchToken(roomName, identity) {
  let res;
  try {
    res = await fetch('/api/token', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ room: roomName, identity }),
    });
  } catch {
    throw new Error('The token server cannot be reached. Is `npm run web` running?');
  }
  const body = await res.json().catch(() => ({}));
  if (!res.ok) {
    throw new Error(body.error ? `Token request failed: ${body.error}` : `Token request failed (HTTP ${res.status}).`);
  }
  return body;
}

// ---- room wiring -------------------------------------------------------------

/** @param {Room} r */
function wireRoom(r) {
  const isLocal = (identity, trackId) =>
    identity === r.localParticipant.identity ||
    (trackId !== undefined && r.localParticipant.trackPublications.has(trackId));

  r.registerTextStreamHandler(TOPIC_TRANSCRIPTION, (reader, sender) => {
    void consumeTranscriptionStream(transcript, reader, sender, isLocal);
  });
  r.registerTextStreamHandler(TOPIC_TURN_METRICS, async (reader) => {
    try {
      const metrics = parseTurnMetrics(await reader.readAll());
      if (!metrics) return;
      metricsMode = metrics.mode;
      latency.show(metrics);
      renderAgent();
    } catch {
      // A metrics message cut short by a disconnect is simply dropped.
    }
  });

  r.on(RoomEvent.TrackSubscribed, (track) => {
    if (track.kind !== Track.Kind.Audio) return;
    ui.audioSink.append(track.attach());
  })
    .on(RoomEvent.TrackUnsubscribed, (track) => {
      for (const el of track.detach()) el.remove();
    })
    .on(RoomEvent.ParticipantConnected, renderAgent)
    .on(RoomEvent.ParticipantDisconnected, renderAgent)
    .on(RoomEvent.ParticipantAttributesChanged, renderAgent)
    .on(RoomEvent.LocalTrackPublished, renderButtons)
    .on(RoomEvent.LocalTrackUnpublished, renderButtons)
    .on(RoomEvent.TrackMuted, renderButtons)
    .on(RoomEvent.TrackUnmuted, renderButtons)
    .on(RoomEvent.MediaDevicesError, (err) => showAlert(describeMicError(err), 'error', 'microphone'))
    .on(RoomEvent.AudioPlaybackStatusChanged, () => {
      // Browsers may block autoplay until a tap; offer one.
      ui.startAudio.hidden = r.canPlaybackAudio;
    })
    .on(RoomEvent.Reconnecting, () => setStatus('reconnecting', 'Reconnecting…'))
    .on(RoomEvent.Reconnected, () => setStatus('connected', 'Connected'))
    .on(RoomEvent.Disconnected, (reason) => {
      if (room !== r) return; // we left on purpose (or this room never finished connecting)
      room = null;
      resetRoomUi();
      setStatus('disconnected', 'Disconnected');
      showAlert(`The connection to LiveKit was lost${reason !== undefined ? ` (reason ${reason})` : ''}. Press Connect to rejoin.`);
    });
}

function resetRoomUi() {
  ui.audioSink.replaceChildren();
  ui.startAudio.hidden = true;
  metricsMode = '';
  renderAgent();
  renderButtons();
}

// ---- actions -------------------------------------------------------------------

async function setMic(enabled) {
  if (!room) return;
  try {
    await room.localParticipant.setMicrophoneEnabled(enabled);
    if (ui.alert.dataset.kind === 'microphone') clearAlert();
  } catch (err) {
    showAlert(describeMicError(err), 'error', 'microphone');
  } finally {
    renderButtons();
  }
}

async function connect() {
  await identityLoaded;
  const roomName = ui.room.value.trim();
  const identity = identityBound() ? undefined : ui.identity.value.trim();
  /** @type {Array<[string, string]>} */
  const names = [['Room', roomName]];
  if (identity !== undefined) names.push(['Your name', identity]);
  for (const [what, value] of names) {
    if (!NAME_PATTERN.test(value)) {
      showAlert(`${what} must be 1–64 letters, digits, “_”, “-” or “.”, starting with a letter or digit.`);
      return;
    }
  }
  clearAlert();
  busy = true;
  setStatus('connecting', 'Connecting…');
  renderButtons();
  transcript.clear();
  latency.clear();

  const r = new Room({ adaptiveStream: true, dynacast: true });
  try {
    const creds = await fetchToken(roomName, identity);
    renderMemoryOwner(creds.identity);
    wireRoom(r);
    try {
      await r.connect(creds.url, creds.token);
    } catch (err) {
      const { kind, message } = describeConnectError(err, creds.url);
      setStatus(kind === 'unreachable' ? 'unreachable' : 'disconnected', kind === 'unreachable' ? 'LiveKit unreachable' : 'Disconnected');
      showAlert(message, 'error', `livekit-${kind}`);
      await r.disconnect().catch(() => undefined);
      return;
    }
    room = r;
    setStatus('connected', 'Connected');
    ui.startAudio.hidden = r.canPlaybackAudio;
    history.replaceState(null, '', `?room=${encodeURIComponent(roomName)}`);
  } catch (err) {
    setStatus('disconnected', 'Disconnected');
    showAlert(err instanceof Error ? err.message : String(err), 'error', 'token');
    return;
  } finally {
    busy = false;
    renderAgent();
    renderButtons();
  }
  await setMic(true);
}

async function disconnect() {
  const r = room;
  room = null;
  resetRoomUi();
  setStatus('disconnected', 'Disconnected');
  await r?.disconnect();
}

// ---- start-up --------------------------------------------------------------------

function randomSuffix() {
  return Math.random().toString(36).slice(2, 8);
}

function init() {
  const params = new URLSearchParams(location.search);
  ui.room.value = params.get('room') ?? `voice-${randomSuffix()}`;
  let identity = params.get('identity') ?? '';
  try {
    identity ||= localStorage.getItem('voice-room.identity') ?? '';
  } catch {
    // storage can be disabled; a fresh name is fine
  }
  ui.identity.value = identity || `user-${randomSuffix()}`;

  ui.form.addEventListener('submit', (event) => {
    event.preventDefault();
    if (busy) return;
    if (room) {
      void disconnect();
      return;
    }
    try {
      if (!identityBound()) localStorage.setItem('voice-room.identity', ui.identity.value.trim());
    } catch {
      // ignore
    }
    void connect();
  });
  ui.mic.addEventListener('click', () => {
    void setMic(!(room?.localParticipant.isMicrophoneEnabled ?? false));
  });
  ui.startAudio.addEventListener('click', () => {
    void room?.startAudio().then(() => {
      ui.startAudio.hidden = true;
    });
  });
  window.addEventListener('pagehide', () => {
    void room?.disconnect();
  });
  ui.identity.addEventListener('input', () => {
    if (!identityBound()) renderMemoryOwner(ui.identity.value.trim());
  });
  identityLoaded = loadIdentity();
  renderAgent();
  renderButtons();
  document.body.dataset.ready = 'true';
}

init();
