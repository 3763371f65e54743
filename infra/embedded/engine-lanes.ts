/**
 * The embedded stack runs every handler in one process, so the stages that work in this process
 * (the offline story, the eSpeak TTS engine, draft building) share its one event loop among all
 * running tasks. Left alone, twenty tasks advance together — twenty stories, then twenty
 * narrations sentence by sentence — and all finish at the end, so the exporter waits for the
 * first draft as long as for the last. On AWS each invocation is its own Lambda and this cannot
 * happen; here a lane serves one invocation at a time and, when it frees, the waiting invocation
 * with the smallest task id goes next. Task ids are UUIDv7 and sort by submission time, so the
 * first submitted task gets through first and its export starts about as soon as a task run
 * alone would have it ready:
 *
 * ```text
 *  shared loop:  Story a b c │ Tts a b c a b c │ Draft a b c    first export after all of it
 *  one lane:     Story a, Tts a, Draft a │ Story b, Tts b, Draft b │ …
 *                                        first export after one task's Story + Tts + Draft
 * ```
 *
 * The stages share ONE lane: eSpeak blocks the event loop a sentence at a time, so a draft or a
 * story run beside another task's narration waits behind every sentence at each of its awaits (a
 * draft took ten times its solo time that way). When a task's stage ends, the lane is held for
 * that task's next stage for a moment (`holdMs`: the state machine's step from one stage to the
 * next takes a few milliseconds), so another task does not slip in between; a stage that does
 * not come (the task failed, or waits out a rate limit) frees the lane when the hold runs out.
 *
 * The total work is the same; only its order changes. Nothing in the handlers knows about lanes:
 * the stack's Lambda adapter wraps the invocation.
 */

/** How long the lane waits for a task's next stage (Story → Tts → Draft steps take milliseconds). */
export const NEXT_STAGE_HOLD_MS = 250;

/** One waiting invocation. */
interface Waiter {
  key: string;
  /** arrival number: equal keys (or none) are served in arrival order */
  seq: number;
  start: () => void;
}

/** Timers of a lane; tests drive them. */
export interface LaneTimer {
  set(ms: number, fire: () => void): () => void;
}

const realTimer: LaneTimer = {
  set: (ms, fire) => {
    const t = setTimeout(fire, ms);
    t.unref?.();
    return () => clearTimeout(t);
  },
};

/** Serves one invocation at a time, the waiting one with the smallest key first. */
export class EngineLane {
  private readonly waiting: Waiter[] = [];
  private running = 0;
  private arrivals = 0;
  /** the key the lane is held for after its work ended, and how to end the hold early */
  private held: { key: string; clear: () => void } | undefined;

  constructor(
    readonly name: string,
    private readonly timer: LaneTimer = realTimer,
  ) {}

  /**
   * Runs `work` when the lane is free and no waiter with a smaller key is ahead of it. With
   * `holdMs`, the lane then waits up to that long for the same key's next invocation before it
   * serves another.
   */
  run<T>(key: string, work: () => Promise<T>, opts: { holdMs?: number } = {}): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const start = () => {
        this.running += 1;
        // A synchronous throw ends up as a rejection, like an async handler's.
        const result = new Promise<T>((settle) => settle(work()));
        void result.then(resolve, reject).finally(() => {
          this.running -= 1;
          if (opts.holdMs && opts.holdMs > 0) this.hold(key, opts.holdMs);
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

  private hold(key: string, ms: number): void {
    this.held?.clear();
    const clear = this.timer.set(ms, () => {
      if (this.held?.key !== key) return;
      this.held = undefined;
      this.next();
    });
    this.held = { key, clear };
  }

  private next(): void {
    if (this.running > 0 || this.waiting.length === 0) return;
    const candidates = this.held ? this.waiting.filter((w) => w.key === this.held!.key) : this.waiting;
    if (candidates.length === 0) return;
    this.held?.clear();
    this.held = undefined;
    let best = candidates[0];
    for (const w of candidates) if (w.key < best.key || (w.key === best.key && w.seq < best.seq)) best = w;
    this.waiting.splice(this.waiting.indexOf(best), 1);
    best.start();
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
