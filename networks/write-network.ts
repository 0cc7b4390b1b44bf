/**
 * Writes a network (its configs.json and boilerplate flake.nix) so that a
 * reader never sees half of one: everything is validated first, files are
 * written to temporaries, fsynced, then renamed into place.
 *
 * A new network is built in a temporary directory renamed to DIR/NAME in one
 * step. An existing one (it may hold flake.lock or a .git) has its two files
 * replaced one by one; if the second replacement fails the first is put back.
 */
import { randomUUID } from 'node:crypto';
import { constants as fsConstants } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { ConfigName, checkConfigs, type ConfigsInput } from './configs-schema.js';
import { readFileBounded } from '../config/read-bounded.js';
import { renderFlakeNix } from './flake-template.js';

export interface WriteNetworkOptions {
  /** The directory holding networks; the network is DIR/NAME. */
  dir: string;
  name: string;
  /** configs.json's content; validated with the configs schema before anything is written. */
  configs: ConfigsInput | unknown;
  /** The hiboss flake the network's flake.nix takes its lib from (default DEFAULT_HIBOSS_FLAKE). */
  flakeRef?: string;
}

export interface WrittenNetwork {
  path: string;
  configsPath: string;
  flakePath: string;
  /** False when an existing network was updated. */
  created: boolean;
}

export const CONFIGS_FILE = 'configs.json';
export const FLAKE_FILE = 'flake.nix';

export async function writeNetwork(options: WriteNetworkOptions): Promise<WrittenNetwork> {
  const nameCheck = ConfigName.safeParse(options.name);
  if (!nameCheck.success) throw new Error(`network name "${options.name}": names are 1–32 of A–Z a–z 0–9 _ -`);
  checkConfigs(options.configs);
  const files = {
    [CONFIGS_FILE]: `${JSON.stringify(options.configs, null, 2)}\n`,
    [FLAKE_FILE]: renderFlakeNix(options.flakeRef === undefined ? {} : { flakeRef: options.flakeRef }),
  };

  await fs.mkdir(options.dir, { recursive: true });
  const target = path.join(options.dir, options.name);
  const existing = await fs.stat(target).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return undefined;
    throw error;
  });
  if (existing && !existing.isDirectory()) throw new Error(`${target} exists and is not a directory`);

  if (existing) await replaceFiles(target, files);
  else await createDirectory(options.dir, target, files);
  return { path: target, configsPath: path.join(target, CONFIGS_FILE), flakePath: path.join(target, FLAKE_FILE), created: !existing };
}

/** configs.json is small; anything larger is not one (members: 256 × a few hundred bytes per config). */
export const MAX_CONFIGS_BYTES = 4 * 1024 * 1024;

/** A network checkout's configs.json, size-bounded and parsed as JSON (not yet checked). */
export function readConfigsFile(checkout: string): unknown {
  const file = path.join(checkout, CONFIGS_FILE);
  let text: string;
  try {
    text = readFileBounded(file, MAX_CONFIGS_BYTES);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw new Error(`${checkout} is not a network checkout: it has no ${CONFIGS_FILE}`);
    throw error;
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new Error(`${file} is not JSON (${(error as Error).message})`);
  }
}

/**
 * Replaces a network checkout's configs.json alone, atomically (temp + fsync +
 * rename); its flake.nix, flake.lock and .git stay the admin's. Validated first:
 * an invalid configs.json is refused and nothing changes.
 */
export async function writeConfigsFile(checkout: string, configs: unknown): Promise<string> {
  checkConfigs(configs);
  await replaceFiles(checkout, { [CONFIGS_FILE]: `${JSON.stringify(configs, null, 2)}\n` });
  return path.join(checkout, CONFIGS_FILE);
}

async function createDirectory(parent: string, target: string, files: Record<string, string>): Promise<void> {
  const temporary = path.join(parent, `.${path.basename(target)}.tmp-${randomUUID()}`);
  try {
    await fs.mkdir(temporary, { mode: 0o755 });
    for (const [file, text] of Object.entries(files)) await writeSynced(path.join(temporary, file), text);
    await syncDirectory(temporary);
    // Fails (ENOTEMPTY/EEXIST) rather than merging if the network appeared meanwhile.
    await fs.rename(temporary, target);
    await syncDirectory(parent);
  } finally {
    await fs.rm(temporary, { recursive: true, force: true });
  }
}

async function replaceFiles(target: string, files: Record<string, string>): Promise<void> {
  const suffix = `.tmp-${randomUUID()}`;
  const entries = Object.entries(files);
  const replaced: Array<{ file: string; previous: string | undefined }> = [];
  try {
    for (const [file, text] of entries) await writeSynced(path.join(target, `.${file}${suffix}`), text);
    for (const [file] of entries) {
      const destination = path.join(target, file);
      const previous = await fs.readFile(destination, 'utf8').catch(() => undefined);
      await fs.rename(path.join(target, `.${file}${suffix}`), destination);
      replaced.push({ file, previous });
    }
    await syncDirectory(target);
  } catch (error) {
    // Put back what was already replaced, newest first, so the network is the old one again.
    for (const { file, previous } of replaced.reverse()) {
      const destination = path.join(target, file);
      if (previous === undefined) await fs.rm(destination, { force: true });
      else {
        const restore = path.join(target, `.${file}.restore${suffix}`);
        await writeSynced(restore, previous);
        await fs.rename(restore, destination);
      }
    }
    await syncDirectory(target).catch(() => undefined);
    throw error;
  } finally {
    for (const [file] of entries) await fs.rm(path.join(target, `.${file}${suffix}`), { force: true });
  }
}

async function writeSynced(file: string, text: string): Promise<void> {
  const handle = await fs.open(file, fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_EXCL, 0o644);
  try {
    await handle.writeFile(text, 'utf8');
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Makes the renames durable: a directory's entries are synced through the directory itself. */
async function syncDirectory(dir: string): Promise<void> {
  const handle = await fs.open(dir, fsConstants.O_RDONLY | fsConstants.O_DIRECTORY);
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
