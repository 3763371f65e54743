import { describe, expect, it } from 'vitest';
import { requestHash } from '../../shared/idempotency.js';
import { parseRunRequest, videoOptionsOf } from '../../shared/request.js';
import { pipelineDefinition } from '../../shared/state-machine.js';
import { DEFAULT_VIDEO_OPTIONS } from '../../shared/video-options.js';

const base = { creator_id: 'c1', video_id: 'v1' };

describe('video options in a run request', () => {
  it('fills every option the request leaves out from the defaults, and leaves music to the Draft stage', () => {
    const options = videoOptionsOf(parseRunRequest(base));
    expect(options).toEqual({
      visual_fit: DEFAULT_VIDEO_OPTIONS.visual_fit,
      subtitle_style: DEFAULT_VIDEO_OPTIONS.subtitle_style,
      music_volume: DEFAULT_VIDEO_OPTIONS.music_volume,
      source_audio_volume: DEFAULT_VIDEO_OPTIONS.source_audio_volume,
    });
    expect('music' in options).toBe(false);
  });

  it('keeps what the request asks for, a Chinese music name (NFC) and music: null included', () => {
    const asked = parseRunRequest({
      ...base,
      visual_fit: 'cover',
      subtitle_style: 'word_highlight',
      music: '背景 音乐.mp3'.normalize('NFD'),
      music_volume: 0,
      source_audio_volume: 1,
    });
    expect(videoOptionsOf(asked)).toEqual({
      visual_fit: 'cover',
      subtitle_style: 'word_highlight',
      music: '背景 音乐.mp3',
      music_volume: 0,
      source_audio_volume: 1,
    });
    expect(videoOptionsOf(parseRunRequest({ ...base, music: null })).music).toBeNull();
  });

  it.each([
    [{ subtitle_style: 'neon' }, 'subtitle_style must be one of "plain", "bold_outline", "boxed", "word_highlight"'],
    [{ visual_fit: 'stretch' }, 'visual_fit must be one of "cover", "blur"'],
    [{ music_volume: 2 }, 'music_volume must be at most 1'],
    [{ music_volume: -0.1 }, 'music_volume must be at least 0'],
    [{ music_volume: 'loud' }, 'music_volume must be a number from 0 (silent) to 1'],
    [{ source_audio_volume: 1.01 }, 'source_audio_volume must be at most 1'],
    [{ source_audio_volume: null }, 'source_audio_volume must be a number'],
    [{ music: '../other/music/a.mp3' }, 'music: The file name contains a separator'],
    [{ music: 'a\u0000.mp3' }, 'music: The file name contains a separator'],
    [{ music: 'song.txt' }, 'music: music/ holds music'],
    [{ music: '' }, 'music: The file name is empty'],
    [{ music: 7 }, 'music must be the name of a file under music/'],
    [{ music: ['a.mp3'] }, 'music must be the name of a file under music/'],
  ])('refuses %j with a sentence naming the field', (fields, needle) => {
    expect(() => parseRunRequest({ ...base, ...fields })).toThrow(
      expect.objectContaining({ name: 'InvalidRequestError', code: 'invalid_request', message: expect.stringContaining(needle) }),
    );
  });

  it('hashes an option sent with its default value like the option left out, and a different option differently', () => {
    const plain = requestHash(parseRunRequest(base));
    expect(requestHash(parseRunRequest({ ...base, ...DEFAULT_VIDEO_OPTIONS }))).toBe(plain);
    expect(requestHash(parseRunRequest({ ...base, subtitle_style: 'boxed' }))).not.toBe(plain);
    expect(requestHash(parseRunRequest({ ...base, music: null }))).not.toBe(plain);
    expect(requestHash(parseRunRequest({ ...base, music: 'a.mp3' }))).not.toBe(requestHash(parseRunRequest({ ...base, music: 'b.mp3' })));
  });

  it('hands the options to the Draft stage', () => {
    const states = pipelineDefinition().States as Record<string, { Parameters?: Record<string, unknown> }>;
    expect(states.Draft.Parameters?.['video_options.$']).toBe('$.video_options');
  });
});
