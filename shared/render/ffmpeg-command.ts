/**
 * The ffmpeg command of a render: inputs, the filter graph (pictures → video, audio tracks →
 * mix, subtitles burned in) and the encoder settings, built from a {@link RenderPlan} and its
 * prepared files. Pure: nothing is spawned here (`ffmpeg-process.ts` runs it).
 */
import type { RenderMedia } from './render-media.js';
import type { AudioPart, RenderPlan } from './render-plan.js';

/** x264 preset used unless the caller picks another: renders are serial, so speed is throughput. */
export const DEFAULT_X264_PRESET = 'veryfast';

/**
 * Nothing on the timeline moves, so motion search buys nothing: no sub-pixel refinement, diamond
 * search, one reference, no B-frames. Measured on 1080x1920 stills: ~35-40 % less encoder CPU
 * than plain `veryfast`, same SSIM within 0.0001 on a gradient, smaller files.
 */
const STILLS_X264_PARAMS = 'subme=0:me=dia:ref=1:bframes=0';
/**
 * A moving timeline (clips, Ken Burns, cross-fades) keeps the fast motion search but refines
 * sub-pixel once (`subme=0` smears slow pans); one reference, no B-frames, a short lookahead and
 * two encoder threads hold the encoder's memory down (709 → 612 MB peak on the bench timeline
 * together with one decoder thread per clip). Speed: `npm run bench -- --parts render`.
 */
const MOTION_X264_PARAMS = 'subme=1:me=dia:ref=1:bframes=0:rc-lookahead=5:threads=2';
/**
 * Stills are upscaled this much before `zoompan`, whose crop window moves in whole input pixels:
 * at 2× a step is half an output pixel (no visible jitter at the slow zooms used) and a still
 * costs ~4× the canvas pixels per frame; 4× would cost 16×. See docs/rendering.md for the
 * measured cost per still.
 */
export const KEN_BURNS_UPSCALE = 2;
/** The blurred backdrop of `fit: blur` is blurred at 1/8 of the canvas size (cheap) and scaled up. */
const BLUR_DOWNSCALE = 8;
const AUDIO_RATE = 48_000;

/** Options of {@link buildFfmpegArgs}. */
export interface FfmpegCommandOptions {
  plan: RenderPlan;
  media: RenderMedia;
  /** the SRT to burn in and the fonts folder libass reads; null: no subtitles */
  subtitles: { file: string; fontsDir: string; forceStyle: string } | null;
  /** x264 preset; default {@link DEFAULT_X264_PRESET} */
  preset?: string;
  /** x264 constant rate factor; default 23 */
  crf?: number;
  outputPath: string;
}

/** The ffmpeg arguments that render `plan` to an H.264/AAC mp4 at `outputPath`. */
export function buildFfmpegArgs(o: FfmpegCommandOptions): string[] {
  const { inputArgs, filterGraph } = buildFilterGraph(o);
  return [
    '-hide_banner',
    '-nostdin',
    '-nostats',
    '-loglevel',
    'warning',
    '-y',
    ...inputArgs,
    '-filter_complex',
    filterGraph,
    '-map',
    '[vout]',
    '-map',
    '[aout]',
    '-t',
    seconds(o.plan.durationUs),
    '-r',
    String(o.plan.fps),
    '-c:v',
    'libx264',
    '-preset',
    o.preset ?? DEFAULT_X264_PRESET,
    ...(o.plan.moving ? ['-x264-params', MOTION_X264_PARAMS] : ['-tune', 'stillimage', '-x264-params', STILLS_X264_PARAMS]),
    '-crf',
    String(o.crf ?? 23),
    '-pix_fmt',
    'yuv420p',
    '-c:a',
    'aac',
    '-b:a',
    '128k',
    '-ar',
    String(AUDIO_RATE),
    '-ac',
    '2',
    '-movflags',
    '+faststart',
    '-f',
    'mp4',
    o.outputPath,
  ];
}

/**
 * Escapes a value for use as a filter option inside an ffmpeg filtergraph: first for the
 * option parser (`\ ' :`), then for the graph parser (`\ ' [ ] , ;`). Paths with spaces,
 * quotes, colons or brackets survive both levels.
 */
export function escapeFilterValue(value: string): string {
  const optionLevel = value.replace(/[\\':]/g, (c) => `\\${c}`);
  return optionLevel.replace(/[\\'[\],;]/g, (c) => `\\${c}`);
}

function buildFilterGraph({ plan, media, subtitles }: FfmpegCommandOptions): { inputArgs: string[]; filterGraph: string } {
  const { fps } = plan;
  const inputArgs: string[] = [];
  const chains: string[] = [];
  const addInput = (file: string, before: string[] = []) => {
    inputArgs.push(...before, '-i', file);
    return inputCount++;
  };
  let inputCount = 0;

  const labels = visualChains({ plan, media, chains, addInput });
  const burn = subtitles
    ? `,subtitles=filename=${escapeFilterValue(subtitles.file)}:fontsdir=${escapeFilterValue(subtitles.fontsDir)}${subtitles.forceStyle ? `:force_style=${escapeFilterValue(subtitles.forceStyle)}` : ''}`
    : '';
  const joined = labels.length > 1 ? `${labels.join('')}concat=n=${labels.length}:v=1:a=0` : `${labels[0]}null`;
  // after a cross-fade the frames are renumbered, so the encoder sees one frame per 1/fps exactly
  const retime = plan.visuals.some((v) => v.fadeInFrames) ? `,settb=AVTB,setpts=N/${fps}/TB` : '';
  chains.push(`${joined}${retime}${burn}[vout]`);

  // Sound: every audio track as one gapless stream padded to the end; several tracks are summed.
  const aformat = `aformat=sample_fmts=fltp:sample_rates=${AUDIO_RATE}:channel_layouts=stereo`;
  const end = seconds(plan.durationUs);
  const trackLabels: string[] = [];
  for (const [t, parts] of plan.audioTracks.entries()) {
    const partLabels: string[] = [];
    for (const [p, part] of parts.entries()) {
      const label = `[a${t}p${p}]`;
      const samples = Math.round((part.durationUs * AUDIO_RATE) / 1_000_000);
      const source = media.audio[t][p];
      if (source === null || (part.fromVideo && source.channels === null)) {
        chains.push(`anullsrc=r=${AUDIO_RATE}:cl=stereo,atrim=end_sample=${samples},${aformat}${label}`);
      } else {
        // A clip's sound is read from its own seek (the clip may be long); music that must run
        // past its end is looped by the demuxer (no samples held in memory).
        const fromClip = part.fromVideo === true;
        const input = addInput(
          source.file,
          fromClip ? ['-ss', seconds(part.sourceStartUs), '-t', seconds(part.durationUs + 500_000)] : part.loop ? ['-stream_loop', '-1'] : [],
        );
        // swresample spreads mono over stereo at -3 dB per side; the narration keeps its recorded level instead.
        const upmix = source.channels === 1 ? 'pan=stereo|c0=c0|c1=c0,' : '';
        const start = fromClip ? 0 : part.sourceStartUs;
        chains.push(
          `[${input}:a]atrim=start=${seconds(start)}:duration=${seconds(part.durationUs)},asetpts=PTS-STARTPTS,` +
            `${upmix}${aformat}${gainFilters(part)},apad=whole_len=${samples},atrim=end_sample=${samples}${label}`,
        );
      }
      partLabels.push(label);
    }
    const sequence = partLabels.length > 1 ? `${partLabels.join('')}concat=n=${partLabels.length}:v=0:a=1` : `${partLabels[0]}anull`;
    chains.push(`${sequence},apad,atrim=end=${end}[track${t}]`);
    trackLabels.push(`[track${t}]`);
  }
  if (trackLabels.length === 0) {
    chains.push(`anullsrc=r=${AUDIO_RATE}:cl=stereo,atrim=end=${end},${aformat}[aout]`);
  } else if (trackLabels.length === 1) {
    chains.push(`${trackLabels[0]}anull[aout]`);
  } else {
    // amix divides every input by the number of inputs still playing; all inputs are padded to
    // the end (apad above), so that number never changes and `volume` restores the plain sum.
    chains.push(`${trackLabels.join('')}amix=inputs=${trackLabels.length}:duration=longest:dropout_transition=0,volume=${trackLabels.length}[aout]`);
  }
  return { inputArgs, filterGraph: chains.join(';') };
}

/** The part's gain, envelope and fades as audio filters (each starting with a comma; none: ''). */
function gainFilters(part: AudioPart): string {
  let out = '';
  if (part.volume !== undefined && part.volume !== 1) out += `,volume=${part.volume}`;
  if (part.keyframes?.length) out += `,volume=volume=${escapeFilterValue(volumeExpression(part.keyframes))}:eval=frame`;
  if (part.fadeInUs) out += `,afade=t=in:st=0:d=${seconds(part.fadeInUs)}`;
  if (part.fadeOutUs) out += `,afade=t=out:st=${seconds(part.durationUs - part.fadeOutUs)}:d=${seconds(part.fadeOutUs)}`;
  return out;
}

/**
 * A volume envelope as an ffmpeg expression of `t` (seconds from the part's start): linear
 * between keyframes, held before the first and after the last. Written as a sum of clipped
 * ramps rather than nested `if`s, so a minute of ducked music (a hundred keyframes) stays flat.
 */
export function volumeExpression(keyframes: Array<{ offsetUs: number; volume: number }>): string {
  const k = [...keyframes].sort((a, b) => a.offsetUs - b.offsetUs);
  const terms = [k[0].volume.toFixed(4)];
  for (let i = 1; i < k.length; i++) {
    const dv = k[i].volume - k[i - 1].volume;
    if (Math.abs(dv) < 1e-6) continue;
    const t0 = k[i - 1].offsetUs / 1_000_000;
    const t1 = k[i].offsetUs / 1_000_000;
    const ramp = t1 > t0 ? `clip((t-${t0.toFixed(6)})/${(t1 - t0).toFixed(6)},0,1)` : `gte(t,${t0.toFixed(6)})`;
    terms.push(`${dv >= 0 ? '+' : '-'}${Math.abs(dv).toFixed(4)}*${ramp}`);
  }
  return terms.join('');
}

/**
 * The picture chains: each span's frames (plus half of each cross-fade it takes part in), and
 * for a cross-fade the overlapping halves overlaid with a fade on alpha (the static ffmpeg has
 * no `xfade`). Returns the labels to concatenate, in order.
 *
 *   span i-1 ───── body ─────┬ tail (2h frames)
 *                            ├─ overlay(tail, fade-in-alpha(head)) ── the fade, centred on the boundary
 *   span i          head ────┴──────────── body ──────────
 *
 * Head, body and tail are separate chains from separate inputs (a still decoded again, a clip
 * seeked again), never one stream `split` three ways: split feeds every branch as frames come,
 * and the branch the graph is not reading yet queued whole spans in memory (measured: peak
 * memory growing with the length of the video).
 */
function visualChains(a: { plan: RenderPlan; media: RenderMedia; chains: string[]; addInput: (file: string, before?: string[]) => number }): string[] {
  const { plan, chains } = a;
  const spans = plan.visuals;
  const half = (i: number) => Math.floor((spans[i]?.fadeInFrames ?? 0) / 2);
  const labels: string[] = [];
  let previousTail: string | null = null;
  for (const [i, span] of spans.entries()) {
    const frames = span.endFrame - span.startFrame + half(i) + half(i + 1);
    const head = 2 * half(i);
    const tail = 2 * half(i + 1);
    if (head && previousTail) {
      const h = spanPiece({ ...a, index: i, frames, from: 0, to: head, label: `h${i}` });
      chains.push(`${h}format=yuva420p,fade=t=in:s=0:n=${head}:alpha=1[hf${i}]`);
      chains.push(`${previousTail}[hf${i}]overlay=eof_action=pass:format=yuv420,format=yuv420p[x${i}]`);
      labels.push(`[x${i}]`);
    }
    labels.push(spanPiece({ ...a, index: i, frames, from: head, to: frames - tail, label: `pic${i}` }));
    previousTail = tail ? spanPiece({ ...a, index: i, frames, from: frames - tail, to: frames, label: `t${i}` }) : null;
  }
  return labels;
}

/**
 * One chain making frames `from` … `to` (exclusive) of span `index`'s stream of `frames` frames
 * (frame 0 is half a fade before the span's start); returns its output label.
 */
function spanPiece(a: {
  plan: RenderPlan;
  media: RenderMedia;
  chains: string[];
  addInput: (file: string, before?: string[]) => number;
  index: number;
  frames: number;
  from: number;
  to: number;
  label: string;
}): string {
  const { plan, media, chains, addInput, index: i, frames, from, to } = a;
  const { width: W, height: H } = plan.canvas;
  const { fps } = plan;
  const span = plan.visuals[i];
  const count = to - from;
  const file = media.pictures[i];
  const fit = span.fit ?? 'cover';
  const out = `[${a.label}]`;
  if (span.material?.type === 'video') {
    const lead = Math.floor((span.fadeInFrames ?? 0) / 2) / fps;
    const at = (span.sourceStartUs ?? 0) / 1_000_000 - lead + from / fps;
    // before the clip's first frame (a fade into a clip that starts at 0), its first frame is held
    const padStart = at < 0 ? Math.round(-at * fps) : 0;
    // one decoder thread per clip input: a frame-threaded decoder holds a frame per thread, and a
    // timeline has a decoder per clip piece; the encoder is where the cores go
    const input = addInput(file, ['-threads', '1', '-ss', Math.max(0, at).toFixed(6), '-t', (count / fps + 1).toFixed(6)]);
    // a clip shorter than its span holds its last frame; trim then cuts the stream to its frames
    chains.push(
      `[${input}:v]setpts=PTS-STARTPTS,fps=${fps},${fitFilters(fit, W, H, `c${a.label}`)},format=yuv420p` +
        `${padStart ? `,tpad=start=${padStart}:start_mode=clone` : ''},tpad=stop=-1:stop_mode=clone,trim=end_frame=${count},settb=AVTB,setpts=N/${fps}/TB${out}`,
    );
  } else if (span.motion) {
    const input = addInput(file);
    // Every input's first frame is decoded when the graph starts and each piece keeps its
    // upscaled copy until it ends; the short pieces inside a fade (a few frames, half hidden by
    // the dissolve) move at 1× to keep 2 × 9 MB per still out of the peak.
    const k = a.label.startsWith('pic') ? KEN_BURNS_UPSCALE : 1;
    const big =
      fit === 'cover'
        ? `scale=${k * W}:${k * H}:force_original_aspect_ratio=increase,crop=${k * W}:${k * H},setsar=1`
        : `${fitFilters(fit, W, H, `b${a.label}`)},scale=${k * W}:${k * H},setsar=1`;
    const { start, end } = span.motion;
    // eased (cosine) progress over the whole span, so the pieces of a fade continue one motion
    const p = frames > 1 ? `(1-cos(PI*(on+${from})/${frames - 1}))/2` : '0';
    const lerp = (x0: number, x1: number) => `(${x0}+(${x1 - x0})*${p})`;
    const zoom = escapeFilterValue(lerp(start.scale, end.scale));
    const x = escapeFilterValue(`(iw-iw/zoom)*(${lerp(start.x, end.x)}+1)/2`);
    const y = escapeFilterValue(`(ih-ih/zoom)*(${lerp(start.y, end.y)}+1)/2`);
    // one output frame per input frame (d=1): frames are made as the graph asks for them
    chains.push(
      `[${input}:v]trim=end_frame=1,${big},format=yuv420p,tpad=stop=${count - 1}:stop_mode=clone,` +
        `zoompan=z=${zoom}:x=${x}:y=${y}:d=1:s=${W}x${H}:fps=${fps},setsar=1,settb=AVTB,setpts=N/${fps}/TB${out}`,
    );
  } else {
    // Pictures: each still is decoded, scaled and converted once, then repeated by `loop` — far
    // cheaper than `-loop 1` on the input, which decodes and scales it again for every frame.
    const input = addInput(file);
    chains.push(
      `[${input}:v]trim=end_frame=1,${fitFilters(fit, W, H, `s${a.label}`)},format=yuv420p,` +
        `loop=loop=${count - 1}:size=1:start=0,settb=AVTB,setpts=N/${fps}/TB${out}`,
    );
  }
  return out;
}

/** Filters that fit a picture to the canvas: `cover` crops, `blur` shows it whole over a blurred copy. */
function fitFilters(fit: 'cover' | 'blur', W: number, H: number, id: string): string {
  if (fit === 'cover') return `scale=${W}:${H}:force_original_aspect_ratio=increase,crop=${W}:${H},setsar=1`;
  const w = 2 * Math.floor(W / BLUR_DOWNSCALE / 2);
  const h = 2 * Math.floor(H / BLUR_DOWNSCALE / 2);
  return (
    `split=2[${id}bg][${id}fg];` +
    `[${id}bg]scale=${w}:${h}:force_original_aspect_ratio=increase,crop=${w}:${h},boxblur=6:2,scale=${W}:${H},setsar=1[${id}bgb];` +
    `[${id}fg]scale=${W}:${H}:force_original_aspect_ratio=decrease,setsar=1[${id}fgs];` +
    `[${id}bgb][${id}fgs]overlay=(W-w)/2:(H-h)/2`
  );
}

function seconds(us: number): string {
  return (us / 1_000_000).toFixed(6);
}
