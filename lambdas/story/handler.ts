import { getObjectText, putObject } from '../../shared/artifacts.js';
import { StageInputError } from '../../shared/errors.js';
import { ARTIFACT, taskArtifactKey } from '../../shared/keys.js';
import type { Runtime } from '../../shared/runtime.js';
import { runStage, type StageEvent } from '../../shared/stage.js';
import type { StoryProvider } from '../../shared/story/story-provider.js';

export interface StoryOutput {
  story_key: string;
  sentences: number;
}

/** Story: the task's source snapshot → narration script `story.txt` (one sentence a line). */
export function createStoryHandler(rt: Runtime, story: StoryProvider) {
  return (event: StageEvent): Promise<StoryOutput> =>
    runStage(rt, event, 'story', async () => {
      const source = await getObjectText(rt, taskArtifactKey(event.task_id, ARTIFACT.source));
      if (source === undefined) throw new StageInputError(`The source snapshot of task ${event.task_id} is missing.`);
      const { sentences, details } = await story.write(source);
      if (sentences.length === 0) throw new StageInputError('The source material has no speakable text (no letters or digits).');
      const key = taskArtifactKey(event.task_id, ARTIFACT.story);
      await putObject(rt, key, `${sentences.join('\n')}\n`, 'text/plain; charset=utf-8');
      return { output: { story_key: key, sentences: sentences.length }, details: { ...details, characters: sentences.join('').length } };
    });
}
