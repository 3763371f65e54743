import { PipelineError } from '../errors.js';

/**
 * A task whose only source is its footage, and no clip of it could be given to Gemini (every
 * clip unreadable, too large, or FAILED at Gemini). Terminal: the same clips fail again; the
 * message lists each clip with its reason.
 */
export class FootageUnusableError extends PipelineError {
  constructor(reason: string) {
    super('footage_unusable', `The task has no source text and its footage cannot be watched: ${reason}. Upload usable clips or send a source text.`);
    this.name = 'FootageUnusableError';
  }
}
