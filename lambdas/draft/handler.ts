import { getObjectBytes, getObjectText, putObject } from '../../shared/artifacts.js';
import { backgroundColors, buildDraft } from '../../shared/draft/build-draft.js';
import { backgroundMedia, storeCapcutDraftFolder, type CapcutFolderMedia } from '../../shared/draft/capcut-folder.js';
import { planPictureSpans } from '../../shared/draft/picture-timeline.js';
import { snapshotSourcePictures } from '../../shared/draft/source-media.js';
import { cuesFromSentences, toSrt } from '../../shared/draft/subtitles.js';
import { StageInputError } from '../../shared/errors.js';
import { ARTIFACT, taskArtifactKey } from '../../shared/keys.js';
import type { Runtime } from '../../shared/runtime.js';
import { runStage, type StageEvent } from '../../shared/stage.js';
import { markExportQueued } from '../../shared/task-record.js';
import type { NarrationTimings } from '../../shared/tts/narration-timings.js';

/** Unused media files named in the task record (all are counted). */
const MAX_IGNORED_LISTED = 20;

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

/**
 * Draft: narration timings (+ the creator's stills under `sources/<creator>/<video>/media/`) →
 * `draft.json` (timeline in µs), `subtitles.srt` from the same cues, and the same timeline as a
 * CapCut/JianYing draft folder `tasks/<id>/draft/{creator}_{video}_{task}/` (copied to
 * `DRAFT_LOCAL_DIR` when set).
 */
/** The editor format the draft folder targets. */
export const CAPCUT_DRAFT_FORMAT = 'JianYing Pro 5.9 (draft_content.json version 360000)';

export function createDraftHandler(rt: Runtime) {
  return (event: DraftEvent): Promise<DraftOutput> =>
    runStage(rt, event, 'draft', async (log) => {
      const raw = await getObjectText(rt, event.timings_key);
      if (raw === undefined) throw new StageInputError(`The narration timings of task ${event.task_id} are missing.`);
      const timings = JSON.parse(raw) as NarrationTimings;
      const narration = await getObjectBytes(rt, event.narration_key);
      if (narration === undefined) throw new StageInputError(`The narration of task ${event.task_id} is missing.`);
      const cues = cuesFromSentences(timings.sentences);
      const durationUs = Math.round(timings.duration_ms * 1000);

      const { pictures: stills, ignored } = await snapshotSourcePictures(rt, { taskId: event.task_id, creatorId: event.creator_id, videoId: event.video_id });
      const spans = planPictureSpans(stills.length, durationUs, cues);
      const used = stills.slice(0, spans.length);
      for (const unused of stills.slice(spans.length))
        ignored.push({ key: unused.source_key, reason: 'the narration is too short to show every picture for 2 s' });
      if (ignored.length) log.info('source media not used', { ignored: ignored.slice(0, MAX_IGNORED_LISTED), count: ignored.length });

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
        pictures: used.map((p, i) => ({ key: p.key, content_type: p.content_type, width: p.width, height: p.height, span: spans[i] })),
      });
      await putObject(rt, subtitlesKey, toSrt(cues), 'application/x-subrip; charset=utf-8');

      const media: CapcutFolderMedia[] = [
        { materialId: 'narration', path: 'materials/narration.wav', bytes: narration, contentType: timings.content_type },
        ...(used.length
          ? used.map((p, i) => ({
              materialId: `image-${i + 1}`,
              path: `materials/${p.file_name}`,
              bytes: p.bytes,
              contentType: p.content_type,
              width: p.width,
              height: p.height,
            }))
          : [backgroundMedia('background', backgroundColors(event.creator_id, event.video_id))]),
      ];
      const folder = await storeCapcutDraftFolder(rt, {
        draft,
        creatorId: event.creator_id,
        videoId: event.video_id,
        media,
        createdAtMs: rt.clock.now(),
        localDir: rt.settings.draftLocalDir || undefined,
      });
      draft.editor_draft = { format: CAPCUT_DRAFT_FORMAT, folder: folder.folder, archive_key: folder.archive_key };
      await putObject(rt, draftKey, JSON.stringify(draft, null, 2), 'application/json');

      // The next state puts the export message on the queue; the record says it waits there.
      if (event.export_video) await markExportQueued(rt, event.task_id);
      return {
        output: { draft_key: draftKey, subtitles_key: subtitlesKey, duration_ms: timings.duration_ms },
        details: {
          cues: cues.length,
          duration_ms: timings.duration_ms,
          draft_version: draft.version,
          pictures: used.length,
          // The first few, so a folder of a thousand clips cannot swell the task record.
          ...(ignored.length ? { media_ignored: ignored.slice(0, MAX_IGNORED_LISTED), media_ignored_count: ignored.length } : {}),
          capcut_draft: {
            folder: folder.folder,
            key_prefix: folder.key_prefix,
            format: CAPCUT_DRAFT_FORMAT,
            archive_key: folder.archive_key,
            ...(folder.local_path ? { local_path: folder.local_path } : {}),
          },
        },
      };
    });
}
