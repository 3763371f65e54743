import { appendFileSync } from 'node:fs';

/** One row of docs/reliability.md: a fault, how often it was injected, and what it cost. */
export interface ReliabilityRow {
  fault: string;
  runs: number;
  outcome: string;
  data_lost: number;
  duplicates: number;
  locks_leaked: number;
}

/**
 * Records a measured row when RELIABILITY_REPORT names a file (`npm run reliability` sets it);
 * otherwise a no-op. The numbers come from the test's own assertions' inputs, never constants.
 */
export function recordReliability(row: ReliabilityRow): void {
  const file = process.env.RELIABILITY_REPORT;
  if (file) appendFileSync(file, `${JSON.stringify(row)}\n`);
}
