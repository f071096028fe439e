import { ReadableStream } from 'node:stream/web';
import { voice, type llm } from '@livekit/agents';
import { isBlankUtterance } from './replies/blank-turn.js';
import { generateReply, type ReplyDependencies, type ReplyMode, type ReplyTiming } from './replies/reply-generator.js';

export const DEFAULT_INSTRUCTIONS = [
  'You are a friendly voice assistant with long-term memory of the person you are talking to.',
  'Your replies are spoken aloud: keep them short and conversational, one to three sentences,',
  'with no markdown, lists, emojis or special characters.',
  'Use what your memory says about the person naturally, without reciting it.',
].join(' ');

export interface LettaVoiceAgentOptions {
  instructions?: string;
  mode: ReplyMode;
  replies: ReplyDependencies;
  /** Called when each reply stream ends, with which backend answered and how fast. */
  onReply?: (timing: ReplyTiming) => void;
}

/**
 * The voice agent's behaviour: its LLM node answers from the OpenAI-compatible fast path with Letta's core memory
 * in the prompt (hybrid), or from Letta itself (full Letta path), falling back between them.
 */
export class LettaVoiceAgent extends voice.Agent {
  readonly mode: ReplyMode;
  private readonly replies: ReplyDependencies;
  private readonly onReply?: (timing: ReplyTiming) => void;

  constructor(options: LettaVoiceAgentOptions) {
    super({ instructions: options.instructions ?? DEFAULT_INSTRUCTIONS });
    this.mode = options.mode;
    this.replies = options.replies;
    this.onReply = options.onReply;
  }

  /**
   * A blank turn (whitespace, lone punctuation from STT) gets no reply: the framework then neither adds the user
   * message to the conversation nor calls the LLM node, so nothing reaches Letta or the memory queue.
   */
  override async onUserTurnCompleted(_chatCtx: llm.ChatContext, newMessage: llm.ChatMessage): Promise<void> {
    if (isBlankUtterance(newMessage.textContent ?? '')) throw new voice.StopResponse();
  }

  override async llmNode(chatCtx: llm.ChatContext): Promise<ReadableStream<string>> {
    const abort = new AbortController();
    const reply = generateReply({ mode: this.mode, chatCtx, signal: abort.signal, onDone: this.onReply }, this.replies);
    return new ReadableStream<string>({
      async pull(controller) {
        const next = await reply.next();
        if (next.done) controller.close();
        else controller.enqueue(next.value);
      },
      // The framework cancels the stream on interruption; stop the HTTP request with it.
      async cancel() {
        abort.abort();
        await reply.return(undefined);
      },
    });
  }
}
