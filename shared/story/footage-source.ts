import type { Runtime } from '../runtime.js';
import { listSourceClips } from './footage-story.js';

/**
 * Whether a submission without source text can go ahead: only when the story can watch the
 * footage instead — a Gemini key is configured (`GEMINI_API_KEY` or `GEMINI_API_KEY_SECRET_ARN`)
 * and the video has at least one clip under `sources/<creator>/<video>/media/`. The clips are
 * probed by the story stage, which leaves out what it cannot use and fails the task
 * (`footage_unusable`) when nothing is left.
 */
export async function footageCanBeTheSource(rt: Runtime, a: { creatorId: string; videoId: string }): Promise<boolean> {
  const { geminiApiKey, geminiApiKeySecretArn } = rt.settings;
  if (!geminiApiKey && !geminiApiKeySecretArn) return false;
  return (await listSourceClips(rt, a)).length > 0;
}
