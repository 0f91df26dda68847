/**
 * The HIL run's journal: one JSON line per device result and per reference score, appended as they
 * arrive, so an interrupted run resumes where it stopped.
 */
import { appendFileSync, existsSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { UserError } from '../util/errors.ts';
import type { Rounding } from '../link/sim-process.ts';

export const JOURNAL_SCHEMA = 'plastisort.hil-journal/1';

export interface ResultEntry {
  kind: 'result';
  i: number;
  path: string;
  label: number;
  classIndex: number;
  scores: number[];
  invokeUs: number;
}
export interface RefEntry {
  kind: 'litert' | `sim-${Rounding}` | 'float';
  i: number;
  scores: number[];
}
export interface SessionEntry {
  kind: 'session';
  at: string;
  images: number;
  seconds: number;
  bytesSent: number;
  bytesReceived: number;
  baud: number;
  retries: number;
  resets: number;
  framesRejected: number;
  reconnects: number;
}
export type JournalEntry = ResultEntry | RefEntry | SessionEntry | { kind: 'header'; [k: string]: unknown };

export class Journal {
  readonly entries: JournalEntry[] = [];
  constructor(readonly path: string) {}

  static open(path: string, header: Record<string, unknown>): Journal {
    const j = new Journal(path);
    if (existsSync(path)) {
      const lines = readFileSync(path, 'utf8').split('\n');
      // A file that does not start with a journal header is someone else's (a README, a split.json):
      // it is left as it is, and the fix is another --journal, never deleting it.
      const notJournal = () => new UserError(`${path}: not a plastisort HIL journal; choose another --journal (the file was left as it is)`);
      const isHeader = (e: unknown): e is { kind: 'header'; [k: string]: unknown } => !!e && typeof e === 'object' && (e as { kind?: unknown }).kind === 'header' && (e as { schema?: unknown }).schema === JOURNAL_SCHEMA;
      lines.forEach((line, n) => {
        if (!line.trim()) return;
        try {
          j.entries.push(JSON.parse(line) as JournalEntry);
        } catch {
          if (!j.entries.length) throw notJournal();
          // A line cut by a crash mid-write: only the last line can be partial.
          if (n < lines.length - 2) throw new UserError(`${path}:${n + 1}: not a JSON line; the journal is damaged, delete it to start over`);
        }
        if (!isHeader(j.entries[0])) throw notJournal();
      });
      const h = j.entries[0];
      if (!isHeader(h)) throw notJournal();
      for (const k of ['modelSha256', 'manifestSha256', 'split']) {
        if (h[k] !== header[k]) {
          throw new UserError(`${path}: journal was written for another ${k} (${String(h[k])}); delete it or choose another --journal to start a new run`);
        }
      }
      // Rewrite without a partial last line so appends start on a fresh line.
      writeFileSync(path, j.entries.map((e) => JSON.stringify(e)).join('\n') + '\n');
    } else {
      mkdirSync(dirname(path), { recursive: true });
      const h = { kind: 'header' as const, schema: JOURNAL_SCHEMA, ...header };
      writeFileSync(path, JSON.stringify(h) + '\n');
      j.entries.push(h);
    }
    return j;
  }

  append(e: JournalEntry): void {
    // One appendFileSync per line: a crash loses at most the line being written.
    appendFileSync(this.path, JSON.stringify(e) + '\n');
    this.entries.push(e);
  }

  results(): Map<number, ResultEntry> {
    const m = new Map<number, ResultEntry>();
    for (const e of this.entries) if (e.kind === 'result') m.set(e.i, e);
    return m;
  }

  refs(kind: RefEntry['kind']): Map<number, RefEntry> {
    const m = new Map<number, RefEntry>();
    for (const e of this.entries) if (e.kind === kind) m.set(e.i, e as RefEntry);
    return m;
  }

  sessions(): SessionEntry[] {
    return this.entries.filter((e): e is SessionEntry => e.kind === 'session');
  }
}
