/**
 * The embedded stack runs every handler in one process, so CPU-bound local engines (the eSpeak
 * TTS engine, draft building) are shared by all running tasks. Left alone, twenty narrations
 * advance sentence by sentence together and all finish at the end, and the exporter waits for
 * the first draft as long as for the last. On AWS each invocation is its own Lambda and this
 * cannot happen; here a lane serves one invocation at a time and, when it frees, the waiting
 * invocation with the smallest task id goes next. Task ids are UUIDv7 and sort by submission
 * time, so the first submitted task gets through first and its export starts about as soon as a
 * task run alone would have it ready:
 *
 * ```text
 *  shared engine:  Tts a b c a b c a b c │ Draft a b c      first export after ≈ 3 × one Tts
 *  one lane:       Tts a a a │ b b b │ c c c                first export after one Tts + Draft
 *                            Draft a │ Draft b │ Draft c
 * ```
 *
 * The total work is the same; only its order changes. Nothing in the handlers knows about lanes:
 * the stack's Lambda adapter wraps the invocation.
 */

/** One waiting invocation. */
interface Waiter {
  key: string;
  /** arrival number: equal keys (or none) are served in arrival order */
  seq: number;
  start: () => void;
}

/** Serves one invocation at a time, the waiting one with the smallest key first. */
export class EngineLane {
  private readonly waiting: Waiter[] = [];
  private running = 0;
  private arrivals = 0;

  constructor(readonly name: string) {}

  /** Runs `work` when the lane is free and no waiter with a smaller key is ahead of it. */
  run<T>(key: string, work: () => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const start = () => {
        this.running += 1;
        // A synchronous throw ends up as a rejection, like an async handler's.
        const result = new Promise<T>((settle) => settle(work()));
        void result.then(resolve, reject).finally(() => {
          this.running -= 1;
          this.next();
        });
      };
      this.waiting.push({ key, seq: this.arrivals++, start });
      this.next();
    });
  }

  /** Invocations waiting for the lane (the running one not included). */
  queued(): number {
    return this.waiting.length;
  }

  private next(): void {
    if (this.running > 0 || this.waiting.length === 0) return;
    let best = 0;
    for (let i = 1; i < this.waiting.length; i++) {
      const [w, b] = [this.waiting[i], this.waiting[best]];
      if (w.key < b.key || (w.key === b.key && w.seq < b.seq)) best = i;
    }
    const [chosen] = this.waiting.splice(best, 1);
    chosen.start();
  }
}

/** The task id a state's input names, or '' when it names none (every state of the definition passes one). */
export function taskIdOf(event: unknown): string {
  if (typeof event === 'object' && event !== null && 'task_id' in event) {
    const id = event.task_id;
    if (typeof id === 'string') return id;
  }
  return '';
}
