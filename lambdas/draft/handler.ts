import { getObjectText, putObject } from '../../shared/artifacts.js';
import { buildDraft } from '../../shared/draft/build-draft.js';
import { cuesFromSentences, toSrt } from '../../shared/draft/subtitles.js';
import { StageInputError } from '../../shared/errors.js';
import { ARTIFACT, taskArtifactKey } from '../../shared/keys.js';
import type { Runtime } from '../../shared/runtime.js';
import { runStage, type StageEvent } from '../../shared/stage.js';
import { markExportQueued } from '../../shared/task-record.js';
import type { NarrationTimings } from '../tts/handler.js';

export interface DraftEvent extends StageEvent {
  export_video: boolean;
  narration_key: string;
  timings_key: string;
}

export interface DraftOutput {
  draft_key: string;
  subtitles_key: string;
  duration_ms: number;
}

/** Draft: narration timings → `draft.json` (timeline in µs) and `subtitles.srt` from the same cues. */
export function createDraftHandler(rt: Runtime) {
  return (event: DraftEvent): Promise<DraftOutput> =>
    runStage(rt, event, 'draft', async () => {
      const raw = await getObjectText(rt, event.timings_key);
      if (raw === undefined) throw new StageInputError(`The narration timings of task ${event.task_id} are missing.`);
      const timings = JSON.parse(raw) as NarrationTimings;
      const cues = cuesFromSentences(timings.sentences);
      const subtitlesKey = taskArtifactKey(event.task_id, ARTIFACT.subtitles);
      const draftKey = taskArtifactKey(event.task_id, ARTIFACT.draft);
      const draft = buildDraft({
        taskId: event.task_id,
        creatorId: event.creator_id,
        videoId: event.video_id,
        language: timings.language,
        narration: { key: event.narration_key, contentType: timings.content_type, durationMs: timings.duration_ms },
        subtitlesKey,
        cues,
      });
      await putObject(rt, subtitlesKey, toSrt(cues), 'application/x-subrip; charset=utf-8');
      await putObject(rt, draftKey, JSON.stringify(draft, null, 2), 'application/json');
      // The next state puts the export message on the queue; the record says it waits there.
      if (event.export_video) await markExportQueued(rt, event.task_id);
      return {
        output: { draft_key: draftKey, subtitles_key: subtitlesKey, duration_ms: timings.duration_ms },
        details: { cues: cues.length, duration_ms: timings.duration_ms, draft_version: draft.version },
      };
    });
}
