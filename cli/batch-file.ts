import { readFile } from 'node:fs/promises';
import { coerceFieldValue } from './request-fields.js';

/** One line of a batch file: its request (and files to upload), or why it could not be read. */
export interface BatchLine {
  /** 1-based line number in the file (a CSV's header is line 1) */
  line: number;
  value?: Record<string, unknown>;
  error?: string;
}

/** Batch columns that are the CLI's, not the request's: files uploaded before the submission. */
export const UPLOAD_FIELDS = { upload_media: 'media', upload_music: 'music' } as const;

/**
 * Reads a batch file: CSV when its name ends in `.csv` (a header row of field names; a value is
 * text or JSON as for a flag, empty cells are left out, `upload_media`/`upload_music` list paths
 * separated by `;`), else JSON Lines (one request object a line). Blank lines and lines starting
 * with `#` are skipped. A line that cannot be read is returned with its reason, never thrown:
 * one bad line does not stop a batch.
 */
export async function readBatchFile(path: string): Promise<BatchLine[]> {
  const text = (await readFile(path, 'utf8')).replace(/^\uFEFF/, '');
  return /\.csv$/i.test(path) ? csvLines(text) : jsonLines(text);
}

function jsonLines(text: string): BatchLine[] {
  const out: BatchLine[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    if (!raw.trim() || raw.trimStart().startsWith('#')) return;
    const line = i + 1;
    try {
      const value = JSON.parse(raw) as unknown;
      if (typeof value !== 'object' || value === null || Array.isArray(value)) out.push({ line, error: 'the line is not a JSON object' });
      else out.push({ line, value: value as Record<string, unknown> });
    } catch (error: unknown) {
      out.push({ line, error: `the line is not valid JSON (${error instanceof Error ? error.message : String(error)})` });
    }
  });
  return out;
}

/** RFC 4180 records: quoted cells may hold commas, doubled quotes and newlines. */
function csvRecords(text: string): Array<{ line: number; cells: string[] }> {
  const records: Array<{ line: number; cells: string[] }> = [];
  let cells: string[] = [];
  let cell = '';
  let quoted = false;
  let line = 1;
  let start = 1;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') {
        cell += '"';
        i++;
      } else if (ch === '"') quoted = false;
      else {
        if (ch === '\n') line++;
        cell += ch;
      }
    } else if (ch === '"' && cell === '') quoted = true;
    else if (ch === ',') {
      cells.push(cell);
      cell = '';
    } else if (ch === '\n' || ch === '\r') {
      if (ch === '\r' && text[i + 1] === '\n') i++;
      cells.push(cell);
      records.push({ line: start, cells });
      cells = [];
      cell = '';
      line++;
      start = line;
    } else cell += ch;
  }
  if (cell !== '' || cells.length) records.push({ line: start, cells: [...cells, cell] });
  return records.filter((r) => r.cells.some((c) => c.trim() !== '') && !r.cells[0].trimStart().startsWith('#'));
}

function csvLines(text: string): BatchLine[] {
  const [header, ...rows] = csvRecords(text);
  if (!header) return [];
  const names = header.cells.map((c) => c.trim());
  return rows.map(({ line, cells }) => {
    if (cells.length > names.length) return { line, error: `the row has ${cells.length} cells but the header names ${names.length} columns` };
    const value: Record<string, unknown> = {};
    names.forEach((name, i) => {
      const cell = cells[i] ?? '';
      if (cell === '') return;
      value[name] = name in UPLOAD_FIELDS ? cell.split(';').map((p) => p.trim()) : coerceFieldValue(name, cell);
    });
    return { line, value };
  });
}
