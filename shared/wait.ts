/**
 * Resolves after `ms` (at once when zero or negative), or when `signal` aborts — whichever
 * comes first; never rejects. The one real-time wait of the domain: retry back-offs, poll-loop
 * pauses, lease renewals. Callers that test with a virtual clock inject their own instead.
 */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return settledOrTimeout(undefined, ms, signal);
}

/**
 * Resolves when `done` settles, after `ms`, or when `signal` aborts — whichever comes first.
 * The long-poll of the export job contract (`GET /jobs/{id}?wait=S`) in both exporters.
 */
export function settledOrTimeout(done: Promise<unknown> | undefined, ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const finish = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', finish);
      resolve();
    };
    const timer = setTimeout(finish, Math.max(0, ms));
    if (signal?.aborted) return finish();
    signal?.addEventListener('abort', finish, { once: true });
    void done?.then(finish, finish);
  });
}
