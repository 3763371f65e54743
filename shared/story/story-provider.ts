import type { FootageWatcher } from './footage-story.js';
import { splitSentences } from './sentences.js';

export interface StoryResult {
  sentences: string[];
  /** what the stage records in the task record: provider, model, prompt version… */
  details: Record<string, unknown>;
}

/** Turns source material into a narration script, one sentence per entry. */
export interface StoryProvider {
  readonly name: string;
  /** the shared limit its requests go through, if any: the stage runs `write` under it */
  readonly rateLimit?: { provider: string; requestsPerMinute: number };
  write(source: string): Promise<StoryResult>;
  /** set when the provider can watch the video's clips and plan the narration over them */
  readonly footage?: FootageWatcher;
}

/**
 * Without an LLM configured the narration is the source itself, cleaned and split into
 * sentences. The task record says so (`provider: "passthrough"`).
 */
export class PassthroughStoryProvider implements StoryProvider {
  readonly name = 'passthrough';
  // eslint-disable-next-line @typescript-eslint/require-await -- the StoryProvider port is async; passing text through is not
  async write(source: string): Promise<StoryResult> {
    const sentences = splitSentences(source);
    return { sentences, details: { provider: this.name, sentences: sentences.length } };
  }
}
