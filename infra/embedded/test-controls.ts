import { Hono } from 'hono';

/**
 * Test-only controls of the embedded stack, switched on by `PIPELINE_TEST_CONTROLS=1` and
 * reachable over HTTP (`/__test/...`) so that tests in another process can drive them:
 *
 * - stage gates: a closed gate holds every task that reaches that state until it opens, so a
 *   test can keep a task at a known stage while it does something else — no sleeps;
 * - faults: the next N invocations of a state throw a named error, as a failing Lambda would.
 */
export interface Fault {
  error: string;
  message: string;
  times: number;
}

interface Waiter {
  executionName: string;
  release: () => void;
}

export class TestControls {
  private readonly closed = new Set<string>();
  private readonly waiting = new Map<string, Waiter[]>();
  private readonly arrivals = new Map<string, Array<{ count: number; resolve: () => void }>>();
  private readonly arrived = new Map<string, number>();
  private readonly faults = new Map<string, Fault>();

  closeGate(state: string): void {
    this.closed.add(state);
  }

  openGate(state: string): void {
    this.closed.delete(state);
    const list = this.waiting.get(state) ?? [];
    this.waiting.delete(state);
    for (const w of list) w.release();
  }

  openAll(): void {
    for (const state of [...this.closed, ...this.waiting.keys()]) this.openGate(state);
  }

  /** Execution names held at each gate now. */
  held(): Record<string, string[]> {
    const out: Record<string, string[]> = {};
    for (const [state, list] of this.waiting) out[state] = list.map((w) => w.executionName);
    return out;
  }

  /** Resolves once `count` tasks in total have reached `state` (held or not) since start. */
  waitForArrivals(state: string, count: number): Promise<void> {
    if ((this.arrived.get(state) ?? 0) >= count) return Promise.resolve();
    return new Promise((resolve) => {
      const list = this.arrivals.get(state) ?? [];
      list.push({ count, resolve });
      this.arrivals.set(state, list);
    });
  }

  arrivalsAt(state: string): number {
    return this.arrived.get(state) ?? 0;
  }

  armFault(state: string, fault: Fault): void {
    this.faults.set(state, fault);
  }

  clearFaults(): void {
    this.faults.clear();
  }

  /** Takes one shot of an armed fault, if any. */
  takeFault(state: string): Fault | undefined {
    const fault = this.faults.get(state);
    if (!fault || fault.times <= 0) return undefined;
    fault.times -= 1;
    if (fault.times === 0) this.faults.delete(state);
    return fault;
  }

  /** Called before every attempt of a Task state. */
  async beforeTask(state: string, executionName: string): Promise<void> {
    const n = (this.arrived.get(state) ?? 0) + 1;
    this.arrived.set(state, n);
    const pending = this.arrivals.get(state) ?? [];
    this.arrivals.set(
      state,
      pending.filter((p) => (p.count <= n ? (p.resolve(), false) : true)),
    );
    if (!this.closed.has(state)) return;
    await new Promise<void>((release) => {
      const list = this.waiting.get(state) ?? [];
      list.push({ executionName, release });
      this.waiting.set(state, list);
    });
  }

  /** The HTTP face of the controls. */
  routes(): Hono {
    const app = new Hono();
    app.get('/gates', (c) => c.json({ closed: [...this.closed], held: this.held(), arrivals: Object.fromEntries(this.arrived) }));
    app.post('/gates/:state/close', (c) => {
      this.closeGate(c.req.param('state'));
      return c.json({ closed: true });
    });
    app.post('/gates/:state/open', (c) => {
      this.openGate(c.req.param('state'));
      return c.json({ closed: false });
    });
    app.post('/faults/:state', async (c) => {
      const body = await c.req.json<Partial<Fault>>();
      this.armFault(c.req.param('state'), {
        error: body.error ?? 'InjectedFaultError',
        message: body.message ?? 'fault injected by a test',
        times: body.times ?? 1,
      });
      return c.json({ armed: true });
    });
    app.delete('/faults', (c) => {
      this.clearFaults();
      return c.json({ cleared: true });
    });
    return app;
  }
}

/** An error with a chosen name, as a Lambda's thrown error would carry. */
export function injectedError(fault: Fault): Error {
  const error = new Error(fault.message);
  error.name = fault.error;
  return error;
}
