import { describe, expect, it } from 'vitest';
import { EngineLane, taskIdOf, type LaneTimer } from '../../infra/embedded/engine-lanes.js';

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

describe('EngineLane', () => {
  it('serves one invocation at a time, the waiting one with the smallest task id first', async () => {
    const lane = new EngineLane('tts');
    const started: string[] = [];
    const running = gatedWork(started, 'late-first');
    const c = gatedWork(started, '0193-c');
    const a = gatedWork(started, '0193-a');
    const b = gatedWork(started, '0193-b');
    const results = [lane.run('0193-z', running.work), lane.run('0193-c', c.work), lane.run('0193-a', a.work), lane.run('0193-b', b.work)];
    expect(started).toEqual(['late-first']);
    expect(lane.queued()).toBe(3);

    running.finish();
    await results[0];
    await Promise.resolve();
    expect(started).toEqual(['late-first', '0193-a']);
    a.finish();
    await results[2];
    await Promise.resolve();
    expect(started).toEqual(['late-first', '0193-a', '0193-b']);
    b.finish();
    c.finish();
    expect(await Promise.all(results)).toEqual(['late-first', '0193-c', '0193-a', '0193-b']);
    expect(started).toEqual(['late-first', '0193-a', '0193-b', '0193-c']);
  });

  it('frees the lane when the work throws, and passes the error on', async () => {
    const lane = new EngineLane('draft');
    const failing = lane.run('a', () => {
      throw new Error('engine broke');
    });
    await expect(failing).rejects.toThrow('engine broke');
    const rejecting = lane.run('b', () => Promise.reject(new Error('async break')));
    await expect(rejecting).rejects.toThrow('async break');
    await expect(lane.run('c', () => Promise.resolve('ran'))).resolves.toBe('ran');
    expect(lane.queued()).toBe(0);
  });

  it('serves equal ids in arrival order', async () => {
    const lane = new EngineLane('draft');
    const started: string[] = [];
    const first = gatedWork(started, 'first');
    const runs = [
      lane.run('x', first.work),
      lane.run('x', () => Promise.resolve(started.push('second'))),
      lane.run('x', () => Promise.resolve(started.push('third'))),
    ];
    first.finish();
    await Promise.all(runs);
    expect(started).toEqual(['first', 'second', 'third']);
  });

  it("holds the lane after a task's narration for that task's draft, then serves the others", async () => {
    const timers: Array<{ ms: number; fire: () => void; cleared: boolean }> = [];
    const timer: LaneTimer = {
      set: (ms, fire) => {
        const t = { ms, fire, cleared: false };
        timers.push(t);
        return () => (t.cleared = true);
      },
    };
    const lane = new EngineLane('engines', timer);
    const started: string[] = [];
    const ttsA = gatedWork(started, 'tts a');
    const runs = [lane.run('a', ttsA.work, { holdMs: 250 }), lane.run('b', () => Promise.resolve(started.push('tts b')), { holdMs: 250 })];
    ttsA.finish();
    await runs[0];
    await Promise.resolve();
    // b waits although the lane is idle: a's draft is expected.
    expect(started).toEqual(['tts a']);
    expect(timers.map((t) => t.ms)).toEqual([250]);
    const draftA = lane.run('a', () => Promise.resolve(started.push('draft a')));
    await draftA;
    await runs[1];
    // the lane's own bookkeeping after b settles (its hold) runs in the next microtasks
    await new Promise((r) => setImmediate(r));
    expect(started).toEqual(['tts a', 'draft a', 'tts b']);
    expect(timers[0].cleared).toBe(true);
    expect(timers).toHaveLength(2);

    // A draft that never comes: the hold runs out and the next task goes.
    const late = lane.run('c', () => Promise.resolve(started.push('tts c')));
    expect(started).toEqual(['tts a', 'draft a', 'tts b']);
    timers[1].fire();
    await late;
    expect(started).toEqual(['tts a', 'draft a', 'tts b', 'tts c']);
  });

  it('reads the task id of a state input', () => {
    expect(taskIdOf({ task_id: '0193abc', creator_id: 'c' })).toBe('0193abc');
    expect(taskIdOf({ task_id: 7 })).toBe('');
    expect(taskIdOf(null)).toBe('');
  });
});
