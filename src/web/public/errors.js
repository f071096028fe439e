// Turns browser/LiveKit errors into messages a caller can act on.
import { ConnectionError, ConnectionErrorReason } from '/vendor/livekit-client.esm.mjs';

/**
 * @param {unknown} err error thrown by getUserMedia / setMicrophoneEnabled
 * @returns {string}
 */
export function describeMicError(err) {
  if (!globalThis.isSecureContext) {
    return 'The microphone only works on a secure page: open this page over https:// or from http://localhost.';
  }
  const name = err && typeof err === 'object' && 'name' in err ? String(err.name) : '';
  switch (name) {
    case 'NotAllowedError':
    case 'PermissionDeniedError':
      return 'Microphone permission was denied. Allow microphone access for this site (address bar → site settings), then press “Mic on” again.';
    case 'NotFoundError':
    case 'DevicesNotFoundError':
      return 'No microphone was found. Connect one, then press “Mic on” again.';
    case 'NotReadableError':
    case 'TrackStartError':
      return 'The microphone is busy or unavailable: another app may be using it.';
    case 'OverconstrainedError':
      return 'The microphone does not support the requested audio settings.';
    case 'SecurityError':
      return 'The browser blocked the microphone for this page (security settings or an insecure page).';
    case 'AbortError':
      return 'Starting the microphone was interrupted. Press “Mic on” to try again.';
    default: {
      const detail = err instanceof Error ? err.message : String(err);
      return `The microphone could not be started: ${detail}`;
    }
  }
}

/**
 * @param {unknown} err error thrown by Room.connect
 * @param {string} url LiveKit URL that was tried
 * @returns {{kind: 'unreachable' | 'rejected' | 'cancelled', message: string}}
 */
export function describeConnectError(err, url) {
  const detail = err instanceof Error && err.message ? `\n(${err.message})` : '';
  if (err instanceof ConnectionError) {
    if (err.reason === ConnectionErrorReason.NotAllowed) {
      return {
        kind: 'rejected',
        message: `LiveKit at ${url} rejected the access token. Check that the web server and the LiveKit server use the same API key and secret.${detail}`,
      };
    }
    if (err.reason === ConnectionErrorReason.Cancelled) {
      return { kind: 'cancelled', message: 'Connecting was cancelled.' };
    }
  }
  return {
    kind: 'unreachable',
    message: `LiveKit cannot be reached at ${url}. Check that the LiveKit server is running and that LIVEKIT_URL (or LIVEKIT_PUBLIC_URL) is an address this device can reach.${detail}`,
  };
}
