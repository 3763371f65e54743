/**
 * Submissions the embedded stack's API works on at once. On AWS every API request gets a Lambda
 * instance of its own; here they share one event loop, and twenty submissions arriving together
 * advance step by step side by side (processor sharing), so the first is answered — and its
 * task started — only about when the last is:
 *
 * ```text
 *  side by side:  a b c a b c a b c a b c │ all answered at ≈ 3 × one submission
 *  K at a time:   a b │ c d │ …             a and b answered after ≈ one submission
 * ```
 *
 * A few at a time, in arrival order, keeps both cores busy (the emulators answer on another
 * thread) while the first submitter's task starts — and reaches its export — first. The total
 * work is the same; only its order changes.
 */
export const SUBMISSIONS_IN_FLIGHT = 2;

/** Runs at most `limit` pieces of work at once; the others start in arrival order. */
export class FifoLimiter {
  private running = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(readonly limit: number) {
    if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`a limit of at least 1 is needed, got ${limit}`);
  }

  run<T>(work: () => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const start = () => {
        this.running += 1;
        // A synchronous throw ends up as a rejection, like an async handler's.
        const result = new Promise<T>((settle) => settle(work()));
        // The place is free (and the next work started) before the caller sees the result.
        void result
          .finally(() => {
            this.running -= 1;
            this.waiting.shift()?.();
          })
          .then(resolve, reject);
      };
      if (this.running < this.limit) start();
      else this.waiting.push(start);
    });
  }

  /** Work waiting for a free place (the running ones not included). */
  queued(): number {
    return this.waiting.length;
  }
}
