import { getObjectBytes, getObjectText, putObject } from '../../shared/artifacts.js';
import { backgroundColors, buildDraft, type BuiltDraft } from '../../shared/draft/build-draft.js';
import { backgroundMedia, storeCapcutDraftFolder, type CapcutFolderMedia } from '../../shared/draft/capcut-folder.js';
import { snapshotSourceMedia, snapshotSourceMusic, type IgnoredMedia } from '../../shared/draft/source-media.js';
import { toSrt } from '../../shared/draft/subtitles.js';
import { StageInputError } from '../../shared/errors.js';
import { ARTIFACT, taskArtifactKey } from '../../shared/keys.js';
import { sourceFolderPrefix } from '../../shared/media/media-name.js';
import type { Runtime } from '../../shared/runtime.js';
import { runStage, type StageEvent } from '../../shared/stage.js';
import { markExportQueued } from '../../shared/task-record.js';
import type { NarrationTimings } from '../../shared/tts/narration-timings.js';
import { DEFAULT_VIDEO_OPTIONS, type VideoOptions } from '../../shared/video-options.js';

/** Unused media files named in the task record (all are counted). */
const MAX_IGNORED_LISTED = 20;

export interface DraftEvent extends StageEvent {
  export_video: boolean;
  narration_key: string;
  timings_key: string;
  /** the request's look and sound of the video (absent: the defaults) */
  video_options?: VideoOptions;
}

export interface DraftOutput {
  draft_key: string;
  subtitles_key: string;
  duration_ms: number;
}

/** The editor format the draft folder targets. */
export const CAPCUT_DRAFT_FORMAT = 'JianYing Pro 5.9 (draft_content.json version 360000)';

/**
 * The draft folder's media: the narration, every material the timeline uses under `materials/`
 * (or the generated background). Bytes are read from the task's copies here; for clips the
 * folder writer can take the object key instead (`key`) once it streams, so no clip passes
 * through this function's memory.
 */
function draftFolderMedia(built: BuiltDraft, narration: Uint8Array, a: { creatorId: string; videoId: string; narrationType: string }) {
  const media: CapcutFolderMedia[] = [{ materialId: 'narration', path: 'materials/narration.wav', bytes: narration, contentType: a.narrationType }];
  // Clips, stills and music by their task copies: copied server-side into the folder and
  // streamed into the archive, never held in memory.
  for (const { materialId, file } of built.files) {
    const size = 'width' in file ? { width: file.width, height: file.height } : {};
    media.push({ materialId, path: `materials/${file.file_name}`, key: file.key, contentType: file.content_type, ...size });
  }
  if (built.draft.materials.some((m) => m.type === 'generated_background')) media.push(backgroundMedia('background', backgroundColors(a.creatorId, a.videoId)));
  return media;
}

/** The footage plan artifact, if the story wrote one: parsed, or why it cannot be read. */
async function readVisualPlan(rt: Runtime, taskId: string): Promise<{ plan: unknown } | { error: string } | undefined> {
  const raw = await getObjectText(rt, taskArtifactKey(taskId, ARTIFACT.visualPlan));
  if (raw === undefined) return undefined;
  try {
    return { plan: JSON.parse(raw) as unknown };
  } catch {
    return { error: 'the plan is not JSON' };
  }
}

/**
 * Draft: narration timings + the creator's media (`sources/<creator>/<video>/media/`, `music/`) +
 * the footage plan, if any → `draft.json` (timeline in µs; see shared/draft/build-draft.ts),
 * `subtitles.srt` from the same cues, and the same timeline as a CapCut/JianYing draft folder
 * `tasks/<id>/draft/{creator}_{video}_{task}/` (copied to `DRAFT_LOCAL_DIR` when set).
 */
export function createDraftHandler(rt: Runtime) {
  return (event: DraftEvent): Promise<DraftOutput> =>
    runStage(rt, event, 'draft', async (log) => {
      const raw = await getObjectText(rt, event.timings_key);
      if (raw === undefined) throw new StageInputError(`The narration timings of task ${event.task_id} are missing.`);
      const timings = JSON.parse(raw) as NarrationTimings;
      const narration = await getObjectBytes(rt, event.narration_key);
      if (narration === undefined) throw new StageInputError(`The narration of task ${event.task_id} is missing.`);
      const options = event.video_options ?? DEFAULT_VIDEO_OPTIONS;
      const ids = { taskId: event.task_id, creatorId: event.creator_id, videoId: event.video_id };

      const { media, ignored } = await snapshotSourceMedia(rt, ids);
      const music = await snapshotSourceMusic(rt, { ...ids, music: options.music });
      const subtitlesKey = taskArtifactKey(event.task_id, ARTIFACT.subtitles);
      const draftKey = taskArtifactKey(event.task_id, ARTIFACT.draft);
      const built = buildDraft({
        ...ids,
        narration: { key: event.narration_key, contentType: timings.content_type, durationMs: timings.duration_ms },
        timings,
        subtitlesKey,
        media,
        music: music.music,
        options,
        visualPlan: await readVisualPlan(rt, event.task_id),
      });
      const { draft, cues } = built;
      const mediaPrefix = sourceFolderPrefix(event.creator_id, event.video_id, 'media');
      const notUsed: IgnoredMedia[] = [...ignored, ...built.leftOut.map((l) => ({ key: `${mediaPrefix}${l.name}`, reason: l.reason }))];
      if (music.ignored) notUsed.push(music.ignored);
      if (built.musicLeftOut && music.music)
        notUsed.push({ key: sourceFolderPrefix(event.creator_id, event.video_id, 'music') + music.music.name, reason: built.musicLeftOut });
      if (notUsed.length) log.info('source media not used', { ignored: notUsed.slice(0, MAX_IGNORED_LISTED), count: notUsed.length });
      await putObject(rt, subtitlesKey, toSrt(cues), 'application/x-subrip; charset=utf-8');

      const folder = await storeCapcutDraftFolder(rt, {
        draft,
        creatorId: event.creator_id,
        videoId: event.video_id,
        media: draftFolderMedia(built, narration, { creatorId: event.creator_id, videoId: event.video_id, narrationType: timings.content_type }),
        createdAtMs: rt.clock.now(),
        localDir: rt.settings.draftLocalDir || undefined,
      });
      draft.editor_draft = { format: CAPCUT_DRAFT_FORMAT, folder: folder.folder, archive_key: folder.archive_key };
      await putObject(rt, draftKey, JSON.stringify(draft, null, 2), 'application/json');

      // The next state puts the export message on the queue; the record says it waits there.
      if (event.export_video) await markExportQueued(rt, event.task_id);
      const used = draft.materials;
      return {
        output: { draft_key: draftKey, subtitles_key: subtitlesKey, duration_ms: timings.duration_ms },
        details: {
          cues: cues.length,
          duration_ms: timings.duration_ms,
          draft_version: draft.version,
          pictures: used.filter((m) => m.type === 'image').length,
          clips: used.filter((m) => m.type === 'video').length,
          music: used.some((m) => m.id === 'music') ? { used: true, name: music.music?.name } : { used: false },
          ...(built.visualPlan ? { visual_plan: built.visualPlan } : {}),
          // The first few, so a folder of a thousand clips cannot swell the task record.
          ...(notUsed.length ? { media_ignored: notUsed.slice(0, MAX_IGNORED_LISTED), media_ignored_count: notUsed.length } : {}),
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
