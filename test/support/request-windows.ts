/**
 * The most requests in any window of `windowMs`, over every window start: the count in
 * [s, s + window) only rises when s reaches a request, so the windows starting at a request are
 * the busiest ones. What the rate-limit tests compare with a per-minute limit.
 */
export function busiestWindow(times: number[], windowMs: number): number {
  const sorted = [...times].sort((a, b) => a - b);
  let most = 0;
  for (let i = 0, j = 0; i < sorted.length; i++) {
    while (j < sorted.length && sorted[j] < sorted[i] + windowMs) j++;
    most = Math.max(most, j - i);
  }
  return most;
}
