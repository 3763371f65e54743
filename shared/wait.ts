/**
 * Resolves when `done` settles, after `ms`, or when `signal` aborts — whichever comes first.
 * The long-poll of the export job contract (`GET /jobs/{id}?wait=S`) in both exporters.
 */
export function settledOrTimeout(done: Promise<unknown>, ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const finish = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', finish);
      resolve();
    };
    const timer = setTimeout(finish, ms);
    if (signal?.aborted) return finish();
    signal?.addEventListener('abort', finish, { once: true });
    void done.then(finish, finish);
  });
}
