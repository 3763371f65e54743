/**
 * Open-loop HTTP load generator, run as its own process so that its timers and the server's work
 * do not share an event loop. Reads a plan (JSON) on stdin, prints the results (JSON) on stdout.
 *
 * Open loop: request i is sent at `start + at_ms[i]` whatever happened to earlier requests (no
 * waiting for answers). Latency is measured from the scheduled send time, so a late send (client
 * lag) counts against the system, not in its favour; the send lag is reported too. Bounded: the
 * plan's length fixes the count, every request has a timeout, and at `deadline_ms` after the
 * start every request still open is aborted. Only 127.0.0.1 targets are accepted.
 */

export interface LoadPlan {
  url: string;
  requests: Array<{ at_ms: number; body: unknown }>;
  /** per request */
  timeout_ms: number;
  /** from the start, for the whole plan */
  deadline_ms: number;
}

export interface LoadResult {
  /** epoch ms of the plan's time 0 */
  started_at: number;
  results: Array<{
    index: number;
    /** ms after time 0 the request was meant to go */
    scheduled_ms: number;
    /** how late it actually went, ms */
    send_lag_ms: number;
    /** from the scheduled send to the whole answer read, ms; null when no answer */
    latency_ms: number | null;
    status: number | null;
    task_id?: string;
    error?: string;
    /** ms after time 0 the answer was complete */
    answered_ms: number | null;
  }>;
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

async function main(): Promise<void> {
  const plan = JSON.parse(await readStdin()) as LoadPlan;
  const target = new URL(plan.url);
  if (target.hostname !== '127.0.0.1') throw new Error(`refusing a target that is not 127.0.0.1: ${target.hostname}`);
  const deadline = new AbortController();
  const results: LoadResult['results'] = [];
  // Time 0 a little ahead, so that scheduling the timers does not delay the first sends.
  const t0 = performance.now() + 50;
  const startedAt = Date.now() + 50;
  const deadlineTimer = setTimeout(() => deadline.abort(), plan.deadline_ms + 50);

  const send = async (index: number, scheduled: number, body: unknown) => {
    const sent = performance.now();
    const result: LoadResult['results'][number] = {
      index,
      scheduled_ms: scheduled,
      send_lag_ms: Math.round((sent - (t0 + scheduled)) * 1000) / 1000,
      latency_ms: null,
      status: null,
      answered_ms: null,
    };
    try {
      const res = await fetch(plan.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
        signal: AbortSignal.any([deadline.signal, AbortSignal.timeout(plan.timeout_ms)]),
      });
      const text = await res.text();
      const done = performance.now();
      result.status = res.status;
      result.latency_ms = Math.round((done - (t0 + scheduled)) * 1000) / 1000;
      result.answered_ms = Math.round((done - t0) * 1000) / 1000;
      try {
        const parsed = JSON.parse(text) as { task_id?: unknown; error?: unknown };
        if (typeof parsed.task_id === 'string') result.task_id = parsed.task_id;
        if (typeof parsed.error === 'string') result.error = parsed.error;
      } catch {
        result.error = 'unparsable answer';
      }
    } catch (error: unknown) {
      result.error = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    }
    results.push(result);
  };

  const pending: Array<Promise<void>> = [];
  await new Promise<void>((allScheduled) => {
    let remaining = plan.requests.length;
    if (remaining === 0) allScheduled();
    const base = t0 - performance.now();
    plan.requests.forEach((r, index) => {
      const fire = () => {
        pending.push(send(index, r.at_ms, r.body));
        if (--remaining === 0) allScheduled();
      };
      // Timers due at the same instant fire in the same turn of the event loop: a burst is one turn.
      setTimeout(fire, Math.max(0, base + r.at_ms));
    });
  });
  await Promise.all(pending);
  clearTimeout(deadlineTimer);
  results.sort((x, y) => x.index - y.index);
  process.stdout.write(JSON.stringify({ started_at: startedAt, results } satisfies LoadResult));
}

main().catch((error: unknown) => {
  process.stderr.write(`load generator failed: ${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
