/**
 * Structure checks of a CapCut / JianYing draft folder against the format the writer targets
 * ({@link CAPCUT_TARGET}): the draft stage runs them before storing a folder (a broken draft is a
 * bug, not something to hand an editor), and the tests run them on what the pipeline stored.
 */
import { CAPCUT_TARGET, DRAFT_PATH_PLACEHOLDER } from './capcut-draft.js';

type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const isUs = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 0;

interface Range {
  start: number;
  duration: number;
}

function timerange(v: unknown): Range | undefined {
  return isObject(v) && isUs(v.start) && isUs(v.duration) ? { start: v.start, duration: v.duration } : undefined;
}

/** What {@link checkCapcutDraftFolder} found: problems (empty when the folder is sound) and a summary. */
export interface CapcutDraftReport {
  problems: string[];
  duration_us: number;
  tracks: Array<{ type: string; segments: number; covered_us: number }>;
  materials: { videos: number; audios: number; texts: number };
}

/**
 * Checks a draft folder given as its files (path inside the folder → bytes):
 * - both JSON files parse; format version, 9:16 canvas, fps, duration in whole µs;
 * - a main (first) video track that covers the timeline from 0 to the end without gap or
 *   overlap, a first audio track (the narration) whose segments add up to the duration; every
 *   track sorted, without overlaps, inside the timeline (an overlapping transition overlaps
 *   nothing on the track: it sits on a cut between two abutting segments);
 * - every id unique; every segment's material and every extra material reference resolves, in
 *   the list its track type needs; source ranges inside their material; a transition no longer
 *   than either segment of its cut; audio fades inside their segment; a canvas blur in (0, 1];
 * - keyframes of properties the track type has, sorted, at times inside their segment;
 * - every media path points into the folder's `materials/` (placeholder, or `absoluteRoot`) at a
 *   file that exists, and never out of it;
 * - the meta file names the folder and the duration, and lists the media it imports.
 *
 * Media may be given as anything (an object key instead of bytes): only the two JSON files are read.
 */
export function checkCapcutDraftFolder(files: ReadonlyMap<string, unknown>, a: { folderName: string; absoluteRoot?: string }): CapcutDraftReport {
  const problems: string[] = [];
  const report: CapcutDraftReport = { problems, duration_us: 0, tracks: [], materials: { videos: 0, audios: 0, texts: 0 } };
  const read = (name: string): Json | undefined => {
    const raw = files.get(name);
    if (typeof raw !== 'string' && !(raw instanceof Uint8Array)) {
      problems.push(`${name} is missing`);
      return undefined;
    }
    try {
      const parsed: unknown = JSON.parse(typeof raw === 'string' ? raw : Buffer.from(raw).toString('utf8'));
      if (isObject(parsed)) return parsed;
      problems.push(`${name} is not a JSON object`);
    } catch {
      problems.push(`${name} is not JSON`);
    }
    return undefined;
  };
  const content = read('draft_content.json');
  const meta = read('draft_meta_info.json');
  if (!content || !meta) return report;

  // Format and canvas.
  if (content.version !== CAPCUT_TARGET.version || content.new_version !== CAPCUT_TARGET.new_version) {
    problems.push(`format version ${String(content.version)}/${String(content.new_version)}, expected ${CAPCUT_TARGET.version}/${CAPCUT_TARGET.new_version}`);
  }
  const canvas = isObject(content.canvas_config) ? content.canvas_config : {};
  if (!(typeof canvas.width === 'number' && typeof canvas.height === 'number' && canvas.width * 16 === canvas.height * 9)) {
    problems.push(`canvas ${String(canvas.width)}x${String(canvas.height)} is not 9:16`);
  }
  if (!(typeof content.fps === 'number' && content.fps > 0)) problems.push(`fps ${String(content.fps)} is not positive`);
  if (!isUs(content.duration) || content.duration === 0) problems.push(`duration ${String(content.duration)} is not a positive whole number of µs`);
  const duration = isUs(content.duration) ? content.duration : 0;
  report.duration_us = duration;

  // Materials by id, with the list each is in.
  const materials = isObject(content.materials) ? content.materials : {};
  const listOf = new Map<string, string>();
  const materialById = new Map<string, Json>();
  const ids = new Set<string>();
  const unique = (id: unknown, what: string) => {
    if (typeof id !== 'string' || id === '') return problems.push(`${what} has no id`);
    if (ids.has(id)) problems.push(`id ${id} (${what}) is not unique`);
    ids.add(id);
  };
  for (const [list, items] of Object.entries(materials)) {
    if (!Array.isArray(items)) {
      problems.push(`materials.${list} is not a list`);
      continue;
    }
    for (const item of items) {
      if (!isObject(item)) continue;
      unique(item.id, `materials.${list}`);
      listOf.set(String(item.id), list);
      materialById.set(String(item.id), item);
    }
  }
  report.materials = {
    videos: Array.isArray(materials.videos) ? materials.videos.length : 0,
    audios: Array.isArray(materials.audios) ? materials.audios.length : 0,
    texts: Array.isArray(materials.texts) ? materials.texts.length : 0,
  };

  // Media files: every path inside the folder and present.
  const fileOfPath = (p: unknown, what: string): string | undefined => {
    if (typeof p !== 'string') {
      problems.push(`${what} has no path`);
      return undefined;
    }
    const roots = [DRAFT_PATH_PLACEHOLDER, a.absoluteRoot].filter((r): r is string => Boolean(r));
    const root = roots.find((r) => p.startsWith(`${r}/`));
    if (!root) {
      problems.push(`${what} path "${p}" is not inside the draft folder`);
      return undefined;
    }
    const inside = p.slice(root.length + 1);
    const parts = inside.split('/');
    if (parts[0] !== 'materials' || parts.some((part) => part === '..' || part === '.' || part === '' || part.includes('\\')))
      problems.push(`${what} path "${p}" is not a file under the folder's materials/`);
    else if (!files.has(inside)) problems.push(`${what} path "${p}" names no file of the folder`);
    return inside;
  };
  for (const list of ['videos', 'audios'] as const) {
    for (const m of Array.isArray(materials[list]) ? (materials[list] as unknown[]) : []) {
      if (isObject(m)) fileOfPath(m.path, `materials.${list} ${String(m.id)}`);
    }
  }
  for (const t of Array.isArray(materials.texts) ? (materials.texts as unknown[]) : []) {
    if (!isObject(t) || typeof t.content !== 'string') continue;
    try {
      const c = JSON.parse(t.content) as { text?: unknown; styles?: Array<{ range?: number[] }> };
      if (typeof c.text !== 'string' || c.text.trim() === '') problems.push(`text ${String(t.id)} is empty`);
      for (const s of c.styles ?? []) {
        if (!Array.isArray(s.range) || s.range[0] < 0 || s.range[1] > String(c.text).length)
          problems.push(`text ${String(t.id)} has a style range outside its text`);
      }
    } catch {
      problems.push(`text ${String(t.id)} content is not JSON`);
    }
  }

  // Tracks and segments.
  const trackList = Array.isArray(content.tracks) ? content.tracks.filter(isObject) : [];
  const expectedList: Record<string, string> = { video: 'videos', audio: 'audios', text: 'texts' };
  const keyframeTypes: Record<string, string[]> = {
    video: ['KFTypeScaleX', 'KFTypeScaleY', 'KFTypePositionX', 'KFTypePositionY', 'KFTypeRotation', 'KFTypeAlpha', 'KFTypeVolume'],
    audio: ['KFTypeVolume'],
    text: ['KFTypeScaleX', 'KFTypeScaleY', 'KFTypePositionX', 'KFTypePositionY', 'KFTypeRotation', 'KFTypeAlpha'],
  };
  const firstOfType = new Set<Json>();
  for (const type of ['video', 'audio']) {
    const first = trackList.find((t) => t.type === type);
    if (first) firstOfType.add(first);
  }
  for (const track of trackList) {
    unique(track.id, `track ${String(track.name)}`);
    const type = String(track.type);
    const segments = Array.isArray(track.segments) ? track.segments.filter(isObject) : [];
    let cursor = 0;
    let covered = 0;
    let contiguous = true;
    for (const [s, seg] of segments.entries()) {
      const what = `${type} segment ${String(seg.id)}`;
      unique(seg.id, what);
      const target = timerange(seg.target_timerange);
      if (!target || target.duration === 0) {
        problems.push(`${what} has no positive target range in whole µs`);
        continue;
      }
      if (target.start < cursor) problems.push(`${what} overlaps the segment before it`);
      if (target.start !== cursor) contiguous = false;
      if (target.start + target.duration > duration) problems.push(`${what} ends after the draft (${target.start + target.duration} > ${duration} µs)`);
      cursor = target.start + target.duration;
      covered += target.duration;
      const list = listOf.get(String(seg.material_id));
      if (list !== expectedList[type]) problems.push(`${what} refers to material ${String(seg.material_id)} ${list ? `in ${list}` : 'that does not exist'}`);
      for (const ref of Array.isArray(seg.extra_material_refs) ? seg.extra_material_refs : []) {
        if (!listOf.has(String(ref))) {
          problems.push(`${what} refers to extra material ${String(ref)} that does not exist`);
          continue;
        }
        const extra = materialById.get(String(ref)) ?? {};
        const kind = listOf.get(String(ref));
        if (kind === 'transitions') {
          const next = timerange(segments[s + 1]?.target_timerange);
          const length = isUs(extra.duration) ? extra.duration : -1;
          if (extra.is_overlap !== true) problems.push(`${what}: transition ${String(ref)} is not an overlapping one`);
          if (!next || next.start !== target.start + target.duration)
            problems.push(`${what}: transition ${String(ref)} is on no cut (no segment starts where it ends)`);
          else if (!(length > 0 && length <= target.duration && length <= next.duration))
            problems.push(`${what}: transition ${String(ref)} lasts ${length} µs, longer than a segment of its cut`);
        } else if (kind === 'audio_fades') {
          const fadeIn = isUs(extra.fade_in_duration) ? extra.fade_in_duration : -1;
          const fadeOut = isUs(extra.fade_out_duration) ? extra.fade_out_duration : -1;
          if (fadeIn < 0 || fadeOut < 0 || fadeIn + fadeOut > target.duration) problems.push(`${what}: its fades (${fadeIn} + ${fadeOut} µs) do not fit in it`);
        } else if (kind === 'canvases' && extra.type === 'canvas_blur') {
          if (!(typeof extra.blur === 'number' && extra.blur > 0 && extra.blur <= 1))
            problems.push(`${what}: canvas blur ${String(extra.blur)} is not in (0, 1]`);
        }
      }
      for (const list of Array.isArray(seg.common_keyframes) ? seg.common_keyframes.filter(isObject) : []) {
        const property = String(list.property_type);
        if (!(keyframeTypes[type] ?? []).includes(property)) problems.push(`${what} has ${property} keyframes, which a ${type} track has not`);
        let last = -1;
        for (const k of Array.isArray(list.keyframe_list) ? list.keyframe_list.filter(isObject) : []) {
          const offset = k.time_offset;
          const values = Array.isArray(k.values) ? (k.values as unknown[]) : [];
          if (!isUs(offset) || offset > target.duration) problems.push(`${what}: a ${property} keyframe at ${String(offset)} µs is outside the segment`);
          else if (offset < last) problems.push(`${what}: ${property} keyframes are not in time order`);
          else last = offset;
          if (!values.length || !values.every((v) => typeof v === 'number' && Number.isFinite(v)))
            problems.push(`${what}: a ${property} keyframe has no value`);
        }
      }
      const source = seg.source_timerange === null ? undefined : timerange(seg.source_timerange);
      const material = materialById.get(String(seg.material_id));
      if (type !== 'text') {
        if (!source) problems.push(`${what} has no source range`);
        else if (material && isUs(material.duration) && source.start + source.duration > material.duration)
          problems.push(`${what} plays past the end of its material`);
      }
    }
    report.tracks.push({ type, segments: segments.length, covered_us: covered });
    const main = firstOfType.has(track);
    if (main && type === 'video' && !(contiguous && cursor === duration))
      problems.push(`video track "${String(track.name)}" does not cover the timeline from 0 to ${duration} µs without gaps`);
    if (main && type === 'audio' && covered !== duration) problems.push(`audio track "${String(track.name)}" lasts ${covered} µs, the draft ${duration} µs`);
  }
  for (const type of ['video', 'audio']) if (!trackList.some((t) => t.type === type)) problems.push(`no ${type} track`);

  // Meta.
  if (meta.draft_name !== a.folderName) problems.push(`meta draft_name "${String(meta.draft_name)}" is not the folder "${a.folderName}"`);
  if (meta.tm_duration !== duration) problems.push(`meta tm_duration ${String(meta.tm_duration)} is not the draft's ${duration} µs`);
  if (meta.draft_id !== content.id) problems.push('meta draft_id is not the draft id');
  const imported = Array.isArray(meta.draft_materials)
    ? meta.draft_materials.filter(isObject).flatMap((g) => (Array.isArray(g.value) ? g.value.filter(isObject) : []))
    : [];
  for (const m of imported) fileOfPath(m.file_Path, `meta material ${String(m.extra_info)}`);
  if (imported.length !== report.materials.videos + report.materials.audios) {
    problems.push(`meta lists ${imported.length} imported media, the draft uses ${report.materials.videos + report.materials.audios}`);
  }
  return report;
}
