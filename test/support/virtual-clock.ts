import type { Clock } from '../../shared/clock.js';

/**
 * A clock for tests that need minutes of rate limiting in milliseconds of real time. Time moves
 * only through `sleep` (or `advance`): participants started with `run` work concurrently — real
 * I/O included — and the clock jumps to the earliest wake-up only when every participant is
 * asleep, so nothing that runs ever sees time pass under it.
 */
export class VirtualClock implements Clock {
  private t: number;
  private seq = 0;
  private awake = 0;
  private readonly timers: Array<{ at: number; seq: number; wake: () => void }> = [];

  constructor(start = Date.UTC(2025, 0, 1, 0, 0, 0)) {
    this.t = start;
  }

  now = (): number => this.t;

  /** moves time forward (for single-threaded tests) */
  advance(ms: number): void {
    this.t += ms;
  }

  /** sleeps `ms` of virtual time; usable as the `Sleep` of the rate limiter */
  sleep = (ms: number): Promise<void> =>
    new Promise<void>((resolve) => {
      this.timers.push({ at: this.t + Math.max(0, ms), seq: this.seq++, wake: resolve });
      this.awake -= 1;
      this.tick();
    });

  /** runs the participants concurrently on this clock and resolves with their results */
  async run<T>(participants: Array<() => Promise<T>>): Promise<T[]> {
    this.awake += participants.length;
    return Promise.all(
      participants.map(async (participant) => {
        try {
          return await participant();
        } finally {
          this.awake -= 1;
          this.tick();
        }
      }),
    );
  }

  private tick(): void {
    if (this.awake > 0 || this.timers.length === 0) return;
    this.timers.sort((a, b) => a.at - b.at || a.seq - b.seq);
    const next = this.timers.shift()!;
    this.t = Math.max(this.t, next.at);
    this.awake += 1;
    next.wake();
  }
}
