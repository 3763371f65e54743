import { describe, expect, it } from 'vitest';
import { FifoLimiter } from '../../infra/embedded/submission-limiter.js';

/** A piece of work that runs until the test ends it, recording when it started. */
function gatedWork(log: string[], name: string) {
  let finish: () => void = () => {};
  const done = new Promise<void>((resolve) => (finish = resolve));
  return {
    work: async () => {
      log.push(name);
      await done;
      return name;
    },
    finish: () => finish(),
  };
}

describe('FifoLimiter', () => {
  it('runs at most its limit at once and starts the others in arrival order', async () => {
    const limiter = new FifoLimiter(2);
    const started: string[] = [];
    const works = ['a', 'b', 'c', 'd', 'e'].map((name) => gatedWork(started, name));
    const results = works.map((w) => limiter.run(w.work));
    expect(started).toEqual(['a', 'b']);
    expect(limiter.queued()).toBe(3);

    works[1].finish();
    expect(await results[1]).toBe('b');
    expect(started).toEqual(['a', 'b', 'c']);
    works[0].finish();
    await results[0];
    expect(started).toEqual(['a', 'b', 'c', 'd']);
    for (const w of works) w.finish();
    expect(await Promise.all(results)).toEqual(['a', 'b', 'c', 'd', 'e']);
    expect(limiter.queued()).toBe(0);
  });

  it('frees the place of work that throws or rejects, and passes the error on', async () => {
    const limiter = new FifoLimiter(1);
    const thrown = limiter.run(() => {
      throw new Error('broke');
    });
    const rejected = limiter.run(() => Promise.reject(new Error('async break')));
    const after = limiter.run(() => Promise.resolve('ran'));
    await expect(thrown).rejects.toThrow('broke');
    await expect(rejected).rejects.toThrow('async break');
    expect(await after).toBe('ran');
  });

  it('refuses a limit below one', () => {
    expect(() => new FifoLimiter(0)).toThrow(RangeError);
  });
});
