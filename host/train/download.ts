/**
 * A resumable HTTP(S) download into a file: bytes go to `DEST.part`, an interrupted transfer is
 * continued with a `Range` request (on the next attempt or the next run), and only a complete,
 * verified file is renamed to DEST. Used for the ImageNet backbone (backbone-cache.ts).
 */
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync, statSync } from 'node:fs';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { dirname } from 'node:path';
import { progressBar } from '../util/progress.ts';

/** Why a download failed: no route to the server at all, an HTTP status, or bytes that failed a check. */
export type DownloadFailure = 'network' | 'http' | 'integrity';

export class DownloadError extends Error {
  constructor(
    message: string,
    readonly failure: DownloadFailure,
    readonly status?: number,
  ) {
    super(message);
    this.name = 'DownloadError';
  }
}

export interface DownloadOptions {
  /** Label of the progress bar. */
  label?: string;
  /** Attempts within this call; each resumes from what the partial file holds. */
  attempts?: number;
  /** Seconds without a byte before an attempt is abandoned. */
  idleTimeoutSeconds?: number;
  /**
   * Checks the complete bytes before they are renamed into place; throw to refuse them. A refused
   * file is deleted (it is ours), so the next run downloads afresh.
   */
  verify?: (path: string, sha256: string) => Promise<void>;
}

export interface DownloadResult {
  bytes: number;
  sha256: string;
  /** Bytes that were already in the partial file when this call started (0: a fresh download). */
  resumedFrom: number;
  attempts: number;
}

const NETWORK_CODES = new Set(['ENOTFOUND', 'EAI_AGAIN', 'ECONNREFUSED', 'ENETUNREACH', 'EHOSTUNREACH', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE']);

/** The meta file beside a partial remembers which URL (and version) its bytes belong to. */
interface PartialMeta {
  url: string;
  etag?: string;
  lastModified?: string;
}

export function partialPath(dest: string): string {
  return `${dest}.part`;
}

function get(url: string, headers: Record<string, string>, idleMs: number): Promise<IncomingMessage> {
  const request = url.startsWith('https:') ? httpsRequest : httpRequest;
  return new Promise((resolvePromise, reject) => {
    const req = request(url, { headers: { 'user-agent': 'plastisort', ...headers } }, resolvePromise);
    req.setTimeout(idleMs, () => req.destroy(Object.assign(new Error(`no answer from ${url} in ${idleMs / 1000} s`), { code: 'ETIMEDOUT' })));
    req.on('error', reject);
    req.end();
  });
}

async function sha256OfFile(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  return h.digest('hex');
}

async function readMeta(path: string): Promise<PartialMeta | undefined> {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as PartialMeta;
  } catch {
    return undefined;
  }
}

/** Follows redirects (at most 5) and returns the response to a GET from `offset` on. */
async function open(url: string, offset: number, meta: PartialMeta | undefined, idleMs: number): Promise<{ res: IncomingMessage; url: string }> {
  let at = url;
  for (let hop = 0; hop <= 5; hop++) {
    const headers: Record<string, string> = {};
    if (offset > 0) {
      headers.range = `bytes=${offset}-`;
      // The server sends the whole file (200) instead of the rest when it changed since.
      const validator = meta?.etag ?? meta?.lastModified;
      if (validator) headers['if-range'] = validator;
    }
    const res = await get(at, headers, idleMs);
    const status = res.statusCode ?? 0;
    if (status >= 300 && status < 400 && res.headers.location) {
      res.resume();
      at = new URL(res.headers.location, at).toString();
      continue;
    }
    return { res, url: at };
  }
  throw new DownloadError(`${url}: more than 5 redirects`, 'http');
}

/** One GET: appends to (or restarts) the partial file; resolves when the server's bytes are all written. */
async function attempt(url: string, part: string, metaPath: string, idleMs: number, label: string): Promise<void> {
  let offset = existsSync(part) ? statSync(part).size : 0;
  const meta = await readMeta(metaPath);
  if (offset > 0 && meta?.url !== url) offset = 0;
  const { res } = await open(url, offset, meta, idleMs);
  const status = res.statusCode ?? 0;
  if (status === 416 && offset > 0) {
    // The partial is already whole (or longer than the file): start again rather than guess.
    res.resume();
    await rm(part, { force: true });
    throw new DownloadError(`${url}: the server refused to resume at byte ${offset}; restarting`, 'network');
  }
  if (status !== 200 && status !== 206) {
    res.resume();
    throw new DownloadError(`${url}: HTTP ${status} ${res.statusMessage ?? ''}`.trim(), 'http', status);
  }
  const contentRange = /^bytes (\d+)-\d+\/(\d+|\*)$/.exec(String(res.headers['content-range'] ?? ''));
  const append = status === 206 && contentRange !== null && Number(contentRange[1]) === offset;
  if (status === 206 && !append) {
    // A range we did not ask for: writing it at byte 0 would corrupt the file, so start again.
    res.resume();
    await rm(part, { force: true });
    throw new DownloadError(`${url}: the server sent bytes ${String(res.headers['content-range'])} for a request from byte ${offset}`, 'network');
  }
  if (!append) offset = 0;
  const length = Number(res.headers['content-length']);
  const total = append && contentRange![2] !== '*' ? Number(contentRange![2]) : Number.isFinite(length) ? offset + length : NaN;
  const newMeta: PartialMeta = { url, etag: res.headers.etag, lastModified: res.headers['last-modified'] };
  await writeFile(metaPath, JSON.stringify(newMeta));
  const out = createWriteStream(part, { flags: append ? 'a' : 'w' });
  const bar = Number.isFinite(total) ? progressBar(label, Math.ceil(total / 1024), 'KiB') : undefined;
  bar?.tick(Math.floor(offset / 1024));
  let got = offset;
  let ticked = Math.floor(offset / 1024);
  // Wait for the file to be closed, also after a cut: the next attempt resumes from its size.
  const closed = new Promise<void>((r) => out.on('close', () => r()));
  try {
    await new Promise<void>((resolvePromise, reject) => {
      res.on('data', (chunk: Buffer) => {
        got += chunk.length;
        const kib = Math.floor(got / 1024);
        if (kib > ticked) {
          bar?.tick(kib - ticked);
          ticked = kib;
        }
      });
      res.on('aborted', () => reject(Object.assign(new Error(`${url}: connection cut after ${got} bytes`), { code: 'ECONNRESET' })));
      res.on('error', reject);
      out.on('error', reject);
      out.on('finish', resolvePromise);
      res.pipe(out);
    });
  } finally {
    if (bar && Number.isFinite(total) && got >= total) bar.tick(Math.ceil(total / 1024) - ticked);
    bar?.stop();
    if (!out.writableEnded) out.end();
    await closed;
  }
  if (Number.isFinite(total) && got !== total) {
    throw Object.assign(new Error(`${url}: got ${got} of ${total} bytes`), { code: 'ECONNRESET' });
  }
}

/**
 * Downloads `url` to `dest`, resuming a partial left by an earlier call. Throws a DownloadError;
 * the partial file stays for the next call unless its bytes were complete and refused.
 */
export async function downloadFile(url: string, dest: string, o: DownloadOptions = {}): Promise<DownloadResult> {
  const part = partialPath(dest);
  const metaPath = `${part}.json`;
  await mkdir(dirname(dest), { recursive: true });
  const resumedFrom = existsSync(part) && (await readMeta(metaPath))?.url === url ? statSync(part).size : 0;
  const attempts = Math.max(1, o.attempts ?? 3);
  const idleMs = (o.idleTimeoutSeconds ?? 30) * 1000;
  let lastError: unknown;
  for (let i = 1; i <= attempts; i++) {
    try {
      await attempt(url, part, metaPath, idleMs, o.label ?? 'download');
    } catch (e) {
      lastError = e;
      if (e instanceof DownloadError && e.failure === 'http') throw e;
      const code = (e as { code?: string }).code;
      if (e instanceof DownloadError || (code && NETWORK_CODES.has(code))) continue;
      throw e;
    }
    const sha256 = await sha256OfFile(part);
    try {
      await o.verify?.(part, sha256);
    } catch (e) {
      await rm(part, { force: true });
      await rm(metaPath, { force: true });
      throw new DownloadError(`${url}: downloaded file refused: ${(e as Error).message}`, 'integrity');
    }
    await rename(part, dest);
    await rm(metaPath, { force: true });
    return { bytes: statSync(dest).size, sha256, resumedFrom, attempts: i };
  }
  const msg = lastError instanceof Error ? lastError.message : String(lastError);
  throw new DownloadError(`${url}: ${msg}`, 'network');
}
