/**
 * Samples this process's memory every 5 ms from now on: `stop()` ends the sampling and gives the
 * peak growth of rss and of ArrayBuffer memory over the baseline taken at the start (call it
 * after a warm-up and a gc, so the baseline holds the loaded machinery).
 */
export function sampleMemoryGrowth(): { stop(): { rss_growth: number; array_buffers_growth: number } } {
  const baseline = process.memoryUsage();
  let peakRss = baseline.rss;
  let peakArrayBuffers = baseline.arrayBuffers;
  const sample = () => {
    const now = process.memoryUsage();
    peakRss = Math.max(peakRss, now.rss);
    peakArrayBuffers = Math.max(peakArrayBuffers, now.arrayBuffers);
  };
  const sampler = setInterval(sample, 5);
  return {
    stop() {
      sample();
      clearInterval(sampler);
      return { rss_growth: peakRss - baseline.rss, array_buffers_growth: peakArrayBuffers - baseline.arrayBuffers };
    },
  };
}
