import { splitSentences } from './sentences.js';

/** Turns source material into a narration script, one sentence per entry. */
export interface StoryProvider {
  readonly name: string;
  write(source: string): Promise<{ sentences: string[]; details: Record<string, unknown> }>;
}

/**
 * Without an LLM configured the narration is the source itself, cleaned and split into
 * sentences. The task record says so (`provider: "passthrough"`).
 */
export class PassthroughStoryProvider implements StoryProvider {
  readonly name = 'passthrough';
  async write(source: string): Promise<{ sentences: string[]; details: Record<string, unknown> }> {
    const sentences = splitSentences(source);
    return { sentences, details: { provider: this.name, sentences: sentences.length } };
  }
}
