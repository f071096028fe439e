// Live transcript of both sides, built from LiveKit transcription text streams.
//
// The agent publishes two shapes on the same topic (see @livekit/agents
// voice/room_io/_output.js):
//  - user speech (STT): one short stream per interim/final update, each carrying
//    the full text of the segment, final one marked lk.transcription_final=true;
//  - agent speech: one stream per segment whose chunks are deltas, closed when
//    the segment is done.
// Both are handled by treating "text accumulated within one stream" as the
// latest full text of its segment.
import {
  ATTR_TRANSCRIPTION_FINAL,
  ATTR_TRANSCRIPTION_SEGMENT_ID,
  ATTR_TRANSCRIPTION_TRACK_ID,
} from './protocol.js';

const MAX_ENTRIES = 200;

export class Transcript {
  /** @param {HTMLOListElement} list @param {HTMLElement} emptyNote */
  constructor(list, emptyNote) {
    this.list = list;
    this.emptyNote = emptyNote;
    /** @type {Map<string, HTMLLIElement>} */
    this.segments = new Map();
  }

  clear() {
    this.segments.clear();
    this.list.replaceChildren();
    this.emptyNote.hidden = false;
  }

  /**
   * @param {string} segmentId
   * @param {'user' | 'agent'} speaker
   * @param {string} text
   * @param {boolean} final
   */
  upsert(segmentId, speaker, text, final) {
    let item = this.segments.get(segmentId);
    if (!item) {
      if (text.trim() === '') return;
      item = document.createElement('li');
      item.dataset.speaker = speaker;
      const who = document.createElement('span');
      who.className = 'who';
      who.textContent = speaker === 'user' ? 'You' : 'Agent';
      const body = document.createElement('span');
      body.className = 'text';
      item.append(who, body);
      this.segments.set(segmentId, item);
      this.list.append(item);
      this.emptyNote.hidden = true;
      this.trim();
    }
    // textContent, never innerHTML: transcripts are untrusted text.
    const body = item.querySelector('.text');
    if (body) body.textContent = text;
    item.dataset.final = String(final);
    this.list.scrollTop = this.list.scrollHeight;
  }

  trim() {
    while (this.list.children.length > MAX_ENTRIES) {
      const first = this.list.firstElementChild;
      if (!first) break;
      for (const [id, el] of this.segments) {
        if (el === first) this.segments.delete(id);
      }
      first.remove();
    }
  }
}

/**
 * Consumes one lk.transcription text stream into the transcript.
 * @param {Transcript} transcript
 * @param {import('livekit-client').TextStreamReader} reader
 * @param {{identity: string}} sender
 * @param {(identity: string | undefined, trackId: string | undefined) => boolean} isLocal
 */
export async function consumeTranscriptionStream(transcript, reader, sender, isLocal) {
  const attrs = reader.info.attributes ?? {};
  const segmentId = attrs[ATTR_TRANSCRIPTION_SEGMENT_ID] || reader.info.id;
  const speaker = isLocal(sender?.identity, attrs[ATTR_TRANSCRIPTION_TRACK_ID]) ? 'user' : 'agent';
  const markedFinal = attrs[ATTR_TRANSCRIPTION_FINAL] === 'true';
  let text = '';
  try {
    for await (const chunk of reader) {
      text += chunk;
      transcript.upsert(segmentId, speaker, text, markedFinal);
    }
  } catch {
    // The sender left mid-stream: keep what arrived.
  }
  // An agent delta stream ends when its segment is complete.
  transcript.upsert(segmentId, speaker, text, markedFinal || speaker === 'agent');
}
