/**
 * A flake's source tree as nix sees it — for a git checkout, the tracked files
 * only (what a git flake input holds) — copied into a directory of its own,
 * its NAR hash (Nix's own `nix-hash`, printed as flake.lock's sha256-… form),
 * and its git revision.
 */
import { execa } from 'execa';
import fs from 'node:fs';
import path from 'node:path';
import { GIT_ENV, gitOneLine } from './catalogue-fetch.js';

export class SourceTreeError extends Error {
  override name = 'SourceTreeError';
}

/** The checkout's HEAD commit, or null when it is not a git checkout. */
export async function gitRevision(dir: string): Promise<string | null> {
  const result = await execa('git', ['-C', dir, 'rev-parse', '--verify', 'HEAD^{commit}'], { reject: false, env: GIT_ENV, stdin: 'ignore' });
  return result.exitCode === 0 && /^[0-9a-f]{40}$/.test(String(result.stdout).trim()) ? String(result.stdout).trim() : null;
}

/** True when tracked files differ from HEAD: the revision would not name what is published. */
export async function gitDirty(dir: string): Promise<boolean> {
  const result = await execa('git', ['-C', dir, 'status', '--porcelain', '--untracked-files=no'], { reject: false, env: GIT_ENV, stdin: 'ignore' });
  return result.exitCode !== 0 || String(result.stdout).trim() !== '';
}

/** Copies the tree (a git checkout's tracked files, or every file but .git) into `dest`. */
export async function exportTree(checkout: string, dest: string): Promise<void> {
  let files: string[];
  if ((await gitRevision(checkout)) !== null) {
    const listed = await execa('git', ['-C', checkout, 'ls-files', '-z'], { reject: false, env: GIT_ENV, stdin: 'ignore', maxBuffer: 64 * 1024 * 1024 });
    if (listed.failed) throw new SourceTreeError(`git ls-files in ${checkout}: ${gitOneLine(String(listed.stderr))}`);
    files = String(listed.stdout).split('\0').filter(Boolean);
  } else {
    files = (fs.readdirSync(checkout, { recursive: true, withFileTypes: false }) as string[])
      .filter((rel) => !rel.split(path.sep).includes('.git') && fs.lstatSync(path.join(checkout, rel)).isFile());
  }
  fs.mkdirSync(dest, { mode: 0o755 });
  for (const rel of files.sort()) {
    const from = path.join(checkout, rel);
    const stat = fs.lstatSync(from);
    if (!stat.isFile()) throw new SourceTreeError(`${rel} is not a regular file (symbolic links and submodules are not published)`);
    const to = path.join(dest, rel);
    fs.mkdirSync(path.dirname(to), { recursive: true, mode: 0o755 });
    fs.copyFileSync(from, to);
    fs.chmodSync(to, stat.mode & 0o111 ? 0o755 : 0o644);
  }
}

/** The NAR hash of a directory, as flake.lock writes it (sha256-BASE64). */
export async function narHash(dir: string): Promise<string> {
  const result = await execa('nix-hash', ['--type', 'sha256', dir], { reject: false, stdin: 'ignore', env: { LC_ALL: 'C' }, timeout: 120_000 });
  const hex = String(result.stdout).trim();
  if (result.failed || !/^[0-9a-f]{64}$/.test(hex)) throw new SourceTreeError(`nix-hash ${dir} failed: ${gitOneLine(String(result.stderr))}`);
  return `sha256-${Buffer.from(hex, 'hex').toString('base64')}`;
}
