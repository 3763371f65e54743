/**
 * One progress display for a terminal or a pipe. On a TTY the block of rows is redrawn in place
 * (cursor up, clear line); piped, a row is printed as a plain line each time its text changes,
 * so a log file reads as a history and holds no escape codes.
 */
export interface ProgressOutput {
  write(text: string): unknown;
}

export class ProgressDisplay {
  private readonly shown = new Map<string, string>();
  private drawnLines = 0;

  constructor(
    private readonly out: ProgressOutput,
    private readonly tty: boolean,
  ) {}

  /** Shows the rows (key → text), in order. */
  update(rows: Array<[key: string, text: string]>): void {
    if (this.tty) {
      let frame = this.drawnLines > 0 ? `\x1b[${this.drawnLines}A` : '';
      for (const [, text] of rows) frame += `\r\x1b[2K${text}\n`;
      // rows that disappeared since the last frame are cleared
      for (let i = rows.length; i < this.drawnLines; i++) frame += '\r\x1b[2K\n';
      this.out.write(frame);
      this.drawnLines = Math.max(rows.length, this.drawnLines);
      return;
    }
    for (const [key, text] of rows) {
      if (this.shown.get(key) === text) continue;
      this.shown.set(key, text);
      this.out.write(`${text}\n`);
    }
  }
}

/** The part of a task record the displays read. */
export interface TaskView {
  task_id: string;
  creator_id: string;
  video_id: string;
  status: string;
  stage: string;
  created_at?: string;
  stages: Record<string, { status: string; attempts: number; started_at?: string; ended_at?: string; queued_at?: string; error?: { code: string } }>;
  error?: { stage: string; code: string; message: string };
  redrives?: number;
}

export const TERMINAL_STATUSES = ['SUCCEEDED', 'FAILED', 'CANCELLED'];
const STAGE_ORDER = ['story', 'tts', 'draft', 'export'];

const seconds = (from?: string, to?: string) => {
  if (!from) return '';
  const ms = (to ? Date.parse(to) : Date.now()) - Date.parse(from);
  return Number.isFinite(ms) && ms >= 0 ? `${(ms / 1000).toFixed(1)}s` : '';
};

/**
 * `tts      running    attempt 2  3.1s` — one stage of one task. `live` (a TTY) shows the time
 * a running or queued stage has taken so far; plain lines show only times that are final, so a
 * row changes — and is printed again — only when the stage does.
 */
export function stageRow(name: string, stage: TaskView['stages'][string], live: boolean): string {
  const parts = [name.padEnd(7), stage.status.padEnd(9)];
  if (stage.attempts > 1) parts.push(`attempt ${stage.attempts}`);
  if (stage.status === 'queued' && live) parts.push(`waiting ${seconds(stage.queued_at)}`);
  else if (stage.status === 'running' && live) parts.push(seconds(stage.started_at));
  else if (stage.status === 'succeeded' || stage.status === 'failed') parts.push(seconds(stage.started_at, stage.ended_at));
  if (stage.error) parts.push(stage.error.code);
  return parts.filter(Boolean).join(' ').trimEnd();
}

/** `SUCCEEDED`, `RUNNING at tts`, `FAILED at tts: tts_failed — <sentence>`. */
export function statusText(task: TaskView): string {
  if (task.status === 'FAILED' && task.error) return `FAILED at ${task.error.stage}: ${task.error.code} — ${task.error.message}`;
  if (task.status === 'RUNNING') return `RUNNING at ${task.stage}`;
  return task.status;
}

/** The rows of `reel watch`: the task, then a row per stage. */
export function watchRows(task: TaskView, live: boolean): Array<[string, string]> {
  const names = STAGE_ORDER.filter((s) => task.stages[s]).concat(Object.keys(task.stages).filter((s) => !STAGE_ORDER.includes(s)));
  return [[`task`, `task ${task.task_id} ${statusText(task)}`], ...names.map((s): [string, string] => [s, `  ${stageRow(s, task.stages[s], live)}`])];
}

/** The row of one task in `reel batch --wait`: `line 3  c1/v1  <id>  RUNNING at tts (running)`. */
export function batchRow(line: number, task: TaskView): string {
  const current = task.stages[task.stage];
  const detail = task.status === 'RUNNING' && current ? ` (${current.status})` : '';
  return `line ${String(line).padEnd(3)} ${`${task.creator_id}/${task.video_id}`.padEnd(24)} ${task.task_id}  ${statusText(task)}${detail}`;
}

/**
 * The rows of the batch display. When there are more tasks than fit (`maxRows`, the terminal's
 * height less the prompt), a count of tasks by status comes first and only the tasks still
 * running are shown — a redraw taller than the screen cannot move the cursor back to its top.
 */
export function batchRows(tasks: Array<{ line: number; task: TaskView }>, maxRows: number): Array<[string, string]> {
  const rows = tasks.map(({ line, task }): [string, string] => [task.task_id, batchRow(line, task)]);
  if (rows.length <= maxRows) return rows;
  const counts = new Map<string, number>();
  for (const { task } of tasks) counts.set(task.status, (counts.get(task.status) ?? 0) + 1);
  const running = tasks.filter(({ task }) => !TERMINAL_STATUSES.includes(task.status));
  const head: [string, string] = ['counts', `${tasks.length} tasks: ${[...counts].map(([k, n]) => `${n} ${k}`).join(', ')}`];
  const shown = running.slice(0, Math.max(0, maxRows - 2)).map(({ line, task }): [string, string] => [task.task_id, batchRow(line, task)]);
  const more = running.length - shown.length;
  return [head, ...shown, ...(more > 0 ? [['more', `… and ${more} more running`] as [string, string]] : [])];
}
