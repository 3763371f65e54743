/**
 * What the state machine actually executed, per execution: every state entered, exited, failed,
 * retried and caught, with timestamps and payload sizes — the event log of the interpreter the
 * embedded Step Functions runs (`aws-local-stepfunctions`).
 *
 * The embedded stack does not hand these events out (see docs/performance.md, "Hooks": an
 * `onStateEvent` option would), so the benchmark reads them where the interpreter produces them:
 * it wraps `StateMachine.prototype.run` — the same class instance the embedded stack imports —
 * and drains each run's `eventLogs` generator, keyed by `$$.Execution.Name` (the task id). The
 * interpreter queues these events whether or not anyone reads them; reading them changes nothing
 * in the execution.
 *
 * Billing: Step Functions Standard counts a state transition "each time a step of your workflow
 * is executed, including retries", so transitions = states entered + retries.
 */
import { StateMachine } from 'aws-local-stepfunctions';

export type StateEventType = 'StateEntered' | 'StateExited' | 'StateFailed' | 'StateRetried' | 'StateCaught';

export interface StateEvent {
  execution: string;
  type: StateEventType;
  state: string;
  stateType: string;
  /** epoch milliseconds */
  at: number;
  /** bytes of the state's input (entered) or output (exited) as JSON */
  payloadBytes: number;
}

type Listener = (event: StateEvent) => void;

const listeners = new Set<Listener>();
const byExecution = new Map<string, StateEvent[]>();
let installed = false;

const STATE_EVENT_TYPES: ReadonlySet<string> = new Set(['StateEntered', 'StateExited', 'StateFailed', 'StateRetried', 'StateCaught']);

/** Starts recording (idempotent). Call before the embedded stack starts executions. */
export function installStateEventTap(): void {
  if (installed) return;
  installed = true;
  const proto = StateMachine.prototype as unknown as { run: (input: unknown, options?: Record<string, unknown>) => { eventLogs: AsyncGenerator<unknown> } };
  const originalRun = proto.run;
  proto.run = function tappedRun(this: unknown, input: unknown, options?: Record<string, unknown>) {
    const run = originalRun.call(this, input, options);
    // Nested machines (Map, Parallel) forward their events to the root run: read roots only.
    const isRoot = !options || !('_rootAbortSignal' in options);
    const context = options?.context as { Execution?: { Name?: unknown } } | undefined;
    const execution = typeof context?.Execution?.Name === 'string' ? context.Execution.Name : undefined;
    if (!isRoot || !execution) return run;
    // The embedded Step Functions reads the same generator (it stores each state entered, to
    // continue after a restart): one reader would take every other event from the other, so
    // the tap reads the original and hands a copy of every event on.
    const copy = replay();
    void drain(execution, run.eventLogs, copy.push).finally(copy.end);
    return { ...run, eventLogs: copy.events };
  };
}

/** A second generator of the same events: `push` each one, `end` when the source ends. */
function replay(): { events: AsyncGenerator<unknown>; push: (event: unknown) => void; end: () => void } {
  const queue: unknown[] = [];
  let ended = false;
  let wake: (() => void) | undefined;
  const events = (async function* () {
    for (;;) {
      while (queue.length > 0) yield queue.shift();
      if (ended) return;
      await new Promise<void>((resolve) => (wake = resolve));
    }
  })();
  const notify = () => {
    wake?.();
    wake = undefined;
  };
  return {
    events,
    push: (event) => {
      queue.push(event);
      notify();
    },
    end: () => {
      ended = true;
      notify();
    },
  };
}

async function drain(execution: string, events: AsyncGenerator<unknown>, passOn: (event: unknown) => void): Promise<void> {
  try {
    for await (const raw of events) {
      passOn(raw);
      const e = raw as { type: string; timestamp: number; state?: { name: string; type: string; input?: unknown; output?: unknown } };
      if (!STATE_EVENT_TYPES.has(e.type) || !e.state) continue;
      const payload = e.type === 'StateExited' ? e.state.output : e.state.input;
      const event: StateEvent = {
        execution,
        type: e.type as StateEventType,
        state: e.state.name,
        stateType: e.state.type,
        at: e.timestamp,
        payloadBytes: Buffer.byteLength(JSON.stringify(payload) ?? ''),
      };
      const list = byExecution.get(execution) ?? [];
      list.push(event);
      byExecution.set(execution, list);
      for (const listener of listeners) listener(event);
    }
  } catch {
    // An aborted run ends its generator with an error; what was read is kept.
  }
}

/** Calls `listener` for every event from now on; returns the unsubscribe function. */
export function onStateEvent(listener: Listener): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

/** Every event recorded for the execution, in order. */
export function stateEventsOf(execution: string): StateEvent[] {
  return [...(byExecution.get(execution) ?? [])];
}

/** Transitions as Step Functions Standard bills them: states entered plus retries. */
export function countTransitions(events: StateEvent[]): { entered: number; retried: number; transitions: number; states: string[] } {
  const entered = events.filter((e) => e.type === 'StateEntered');
  const retried = events.filter((e) => e.type === 'StateRetried').length;
  return { entered: entered.length, retried, transitions: entered.length + retried, states: entered.map((e) => e.state) };
}

/** One invocation of a Task state: from entering (or the retry) to exiting or failing. */
export interface TaskAttempt {
  state: string;
  started: number;
  ended: number;
  ok: boolean;
}

/** The Task attempts of an execution, retries included, in order. */
export function taskAttempts(events: StateEvent[]): TaskAttempt[] {
  const attempts: TaskAttempt[] = [];
  const open = new Map<string, number>();
  for (const e of events) {
    if (e.stateType !== 'Task') continue;
    if (e.type === 'StateEntered' || e.type === 'StateRetried') open.set(e.state, e.at);
    if (e.type === 'StateExited' || e.type === 'StateFailed') {
      const started = open.get(e.state);
      if (started === undefined) continue;
      open.delete(e.state);
      attempts.push({ state: e.state, started, ended: e.at, ok: e.type === 'StateExited' });
    }
  }
  return attempts;
}
