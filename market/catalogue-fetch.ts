/**
 * Fetching a catalogue: `git fetch` of its repository's default branch (argv,
 * no prompt, bounded) and `git show FETCH_HEAD:catalogue.json`, or an http(s)
 * GET with Node's fetch (bounded size and time). The last good copy is kept
 * (atomically) and returned with the reason when a fetch fails.
 */
import { execa } from 'execa';
import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import type { CatalogueConfig } from '../config/market-schema.js';
import { writeFileAtomic } from '../config/file.js';
import { readFileBounded } from '../config/read-bounded.js';
import { CATALOGUE_FILE, MAX_CATALOGUE_BYTES, parseCatalogue, type CatalogueDocument } from './catalogue-schema.js';
import { privateDirSync } from './paths.js';

export const FETCH_TIMEOUT_MS = 60_000;

/** Git without prompts, without the user's hooks or credentials helpers asking on a terminal. */
export const GIT_ENV: NodeJS.ProcessEnv = { GIT_TERMINAL_PROMPT: '0', GIT_ASKPASS: '/bin/false', SSH_ASKPASS: '/bin/false', GCM_INTERACTIVE: 'never', LC_ALL: 'C' };

export class FetchError extends Error {
  override name = 'FetchError';
}

export function gitOneLine(text: string): string {
  const lines = text.split('\n').map((l) => l.replace(/[\u0000-\u001f\u007f-\u009f]/g, '').trim()).filter(Boolean);
  return (lines.find((l) => /^fatal:/.test(l)) ?? lines.at(-1) ?? 'no message').slice(0, 240);
}

type Where = { kind: 'git'; url: string } | { kind: 'http'; url: string };

export function catalogueWhere(url: string): Where {
  if (url.startsWith('/')) return { kind: 'git', url };
  if (url.startsWith('git+')) return { kind: 'git', url: url.slice(4).replace(/^file:\/\//, '') };
  return { kind: 'http', url };
}

async function fetchGit(url: string, gitDir: string, timeoutMs: number): Promise<string> {
  if (!fs.existsSync(path.join(gitDir, 'HEAD'))) {
    privateDirSync(path.dirname(gitDir));
    const init = await execa('git', ['init', '--quiet', '--bare', gitDir], { reject: false, env: GIT_ENV, stdin: 'ignore' });
    if (init.failed) throw new FetchError(`git init failed: ${gitOneLine(String(init.stderr))}`);
  }
  const fetched = await execa('git', ['--git-dir', gitDir, 'fetch', '--quiet', '--no-tags', '--depth', '1', '--', url, 'HEAD'], {
    reject: false, env: GIT_ENV, stdin: 'ignore', timeout: timeoutMs, maxBuffer: 1024 * 1024,
  });
  if (fetched.timedOut) throw new FetchError(`git fetch ${url} took longer than ${timeoutMs / 1000} s`);
  if (fetched.failed) throw new FetchError(`git fetch ${url}: ${gitOneLine(String(fetched.stderr))}`);
  const shown = await execa('git', ['--git-dir', gitDir, 'show', `FETCH_HEAD:${CATALOGUE_FILE}`], {
    reject: false, env: GIT_ENV, stdin: 'ignore', maxBuffer: MAX_CATALOGUE_BYTES + 1, stripFinalNewline: false,
  });
  if (shown.failed) {
    if (/maxBuffer/i.test(String(shown.message))) throw new FetchError(`${CATALOGUE_FILE} is larger than ${MAX_CATALOGUE_BYTES} bytes`);
    throw new FetchError(`the repository ${url} has no ${CATALOGUE_FILE} at the top of its default branch`);
  }
  return String(shown.stdout);
}

/** A bounded GET: the body is read up to `maxBytes` and refused beyond. */
export async function boundedGet(url: string, maxBytes: number, timeoutMs: number, headers: Record<string, string> = {}): Promise<{ status: number; body: Buffer }> {
  const signal = AbortSignal.timeout(timeoutMs);
  let response: Response;
  try {
    response = await fetch(url, { signal, headers, redirect: 'error' });
  } catch (error) {
    const cause = (error as { cause?: { code?: string; message?: string } }).cause;
    if ((error as Error).name === 'TimeoutError') throw new FetchError(`${url} did not answer within ${timeoutMs / 1000} s`);
    throw new FetchError(`cannot fetch ${url}: ${cause?.code ?? cause?.message ?? (error as Error).message}`);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of response.body ?? []) {
      size += chunk.length;
      if (size > maxBytes) {
        await response.body?.cancel().catch(() => undefined);
        throw new FetchError(`${url} sent more than ${maxBytes} bytes`);
      }
      chunks.push(Buffer.from(chunk));
    }
  } catch (error) {
    if (error instanceof FetchError) throw error;
    if ((error as Error).name === 'TimeoutError' || signal.aborted) throw new FetchError(`${url} did not finish within ${timeoutMs / 1000} s`);
    throw new FetchError(`reading ${url}: ${(error as Error).message}`);
  }
  return { status: response.status, body: Buffer.concat(chunks) };
}

async function fetchHttp(url: string, timeoutMs: number): Promise<string> {
  const { status, body } = await boundedGet(url, MAX_CATALOGUE_BYTES, timeoutMs, { accept: 'application/json' });
  if (status !== 200) throw new FetchError(`${url} answered HTTP ${status}`);
  return body.toString('utf8');
}

/** The last good copy, as kept on disk: one schema for the writer and reader. */
const LastGood = z.strictObject({ fetchedAt: z.number(), url: z.string(), text: z.string().max(MAX_CATALOGUE_BYTES) });

export type FetchedCatalogue =
  | { ok: true; document: CatalogueDocument; fetchedAt: number }
  | { ok: false; reason: string; lastGood: { document: CatalogueDocument; fetchedAt: number } | null };

/** Fetches one catalogue; on failure, its last good copy (if any) with the reason. */
export async function fetchCatalogue(catalogue: CatalogueConfig, cacheDir: string, { timeoutMs = FETCH_TIMEOUT_MS, now = Date.now } = {}): Promise<FetchedCatalogue> {
  privateDirSync(cacheDir);
  const lastGoodFile = path.join(cacheDir, `${catalogue.name}.json`);
  const where = catalogueWhere(catalogue.url);
  try {
    const text = where.kind === 'git' ? await fetchGit(where.url, path.join(cacheDir, 'git', catalogue.name), timeoutMs) : await fetchHttp(where.url, timeoutMs);
    const document = parseCatalogue(text);
    const fetchedAt = now();
    writeFileAtomic(lastGoodFile, JSON.stringify(LastGood.parse({ fetchedAt, url: catalogue.url, text })) + '\n');
    return { ok: true, document, fetchedAt };
  } catch (error) {
    const reason = (error as Error).message;
    return { ok: false, reason, lastGood: readLastGood(lastGoodFile, catalogue.url) };
  }
}

function readLastGood(file: string, url: string): { document: CatalogueDocument; fetchedAt: number } | null {
  try {
    const kept = LastGood.parse(JSON.parse(readFileBounded(file, MAX_CATALOGUE_BYTES * 2 + 4096)));
    if (kept.url !== url) return null; // the member pointed the name at another place since
    return { document: parseCatalogue(kept.text), fetchedAt: kept.fetchedAt };
  } catch {
    return null;
  }
}
