/**
 * Reading and writing the daemon's config file — the only code that touches it,
 * for the daemon, the CLI and the panel alike. Writers change one VM's entry
 * (putVm, removeVm, setVmColor) and nothing else of the file.
 */
import fs from 'node:fs';
import path from 'node:path';
import { readFileBounded, UnsafeFileError } from './read-bounded.js';
import { Config, describeIssues, VmConfig, VmName } from './schema.js';
import { errorCode, errorMessage } from '../shared/error-message.js';

/** A config file this large is not a config file. */
export const MAX_CONFIG_BYTES = 1024 * 1024;

export class ConfigError extends Error {
  override name = 'ConfigError';
  constructor(readonly file: string, readonly problems: string[]) {
    super(`${file}: ${problems.join('; ')}`);
  }
}

export function defaultConfigPath(env: NodeJS.ProcessEnv = process.env): string {
  const configHome = env.XDG_CONFIG_HOME || path.join(env.HOME ?? '/', '.config');
  return path.join(configHome, 'hiboss', 'config.json');
}

/** Parses config text; every problem comes with its path (`vms.acme.qemu: …`). */
export function parseConfig(text: string, file = 'config'): Config {
  if (Buffer.byteLength(text) > MAX_CONFIG_BYTES) throw new ConfigError(file, [`(root): larger than ${MAX_CONFIG_BYTES} bytes`]);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new ConfigError(file, [`(root): not valid JSON: ${errorMessage(error)}`]);
  }
  const parsed = Config.safeParse(json);
  if (!parsed.success) throw new ConfigError(file, describeIssues(parsed.error));
  return parsed.data;
}

/** The config file is not there (only raised when the caller asked: see readConfig). */
export class ConfigMissingError extends ConfigError {
  override name = 'ConfigMissingError';
}

/**
 * Reads and validates the file. A missing file is an empty config (nothing bound
 * yet) unless `missing: 'error'`: the running daemon must not take a config that
 * vanished for "no VMs" and power everything off.
 */
export function readConfig(file: string, { missing = 'empty' }: { missing?: 'empty' | 'error' } = {}): Config {
  let text: string;
  try {
    text = readFileBounded(file, MAX_CONFIG_BYTES);
  } catch (error) {
    const code = errorCode(error);
    if (code === 'ENOENT' || code === 'ENOTDIR') {
      if (missing === 'empty') return Config.parse({});
      throw new ConfigMissingError(file, ['(root): the file is gone']);
    }
    if (error instanceof UnsafeFileError) throw new ConfigError(file, [`(root): ${error.message}`]);
    throw new ConfigError(file, [`(root): cannot read: ${errorMessage(error)}`]);
  }
  return parseConfig(text, file);
}

/** Writes atomically (temp file, fsync, rename): readers see the old file or the new one, never half. */
export function writeFileAtomic(file: string, text: string, mode = 0o600): void {
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const temp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.tmp`);
  const fd = fs.openSync(temp, 'w', mode);
  try {
    fs.writeSync(fd, text);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  try {
    fs.renameSync(temp, file);
  } catch (error) {
    fs.rmSync(temp, { force: true });
    throw error;
  }
}

/** config.json as written, before defaults are filled in: what an edit changes and writes back. */
type RawConfig = { vms?: Record<string, Record<string, unknown>> } & Record<string, unknown>;

/**
 * Changes one part of the file as it is written (not the parsed config, whose defaults would all be
 * written out) and writes it back once the result passes the same schema: an edit that would
 * make it invalid is refused and nothing is written. Every other key stays as it was.
 */
function editConfig(file: string, mutate: (raw: RawConfig, config: Config) => void): Config {
  const config = readConfig(file);
  let raw: RawConfig = {};
  try {
    raw = JSON.parse(readFileBounded(file, MAX_CONFIG_BYTES)) as RawConfig;
  } catch (error) {
    const code = errorCode(error);
    if (code !== 'ENOENT' && code !== 'ENOTDIR') throw error;
  }
  mutate(raw, config);
  const checked = Config.safeParse(raw);
  if (!checked.success) throw new ConfigError(file, describeIssues(checked.error));
  writeFileAtomic(file, JSON.stringify(raw, null, 2) + '\n');
  return checked.data;
}

/** Adds (or replaces) one VM, as given (no defaults written); e.g. `hiboss join` or the panel's wizard. */
export function putVm(file: string, name: string, vm: unknown): Config {
  const validName = VmName.safeParse(name);
  if (!validName.success) throw new ConfigError(file, [`vms.${name}: ${validName.error.issues[0]!.message}`]);
  const validVm = VmConfig.safeParse(vm);
  if (!validVm.success) throw new ConfigError(file, describeIssues(validVm.error).map((p) => `vms.${name}.${p}`));
  return editConfig(file, (raw) => {
    raw.vms = { ...raw.vms, [name]: vm as Record<string, unknown> };
  });
}

export function removeVm(file: string, name: string): Config {
  return editConfig(file, (raw, config) => {
    if (!Object.hasOwn(config.vms, name) || !raw.vms) throw new ConfigError(file, [`vms.${name}: no such VM`]);
    delete raw.vms[name];
  });
}

/** Points one flake VM at another flake (`hiboss update` following a fetched flake's origin). */
export function setVmFlake(file: string, name: string, flake: string): Config {
  return editConfig(file, (raw, config) => {
    const vm = raw.vms?.[name];
    if (!Object.hasOwn(config.vms, name) || !vm || config.vms[name]!.flake === undefined) throw new ConfigError(file, [`vms.${name}: no such flake VM`]);
    vm.flake = flake;
  });
}

/** Sets (or, with null, removes) one VM's network colour. */
export function setVmColor(file: string, name: string, color: string | null): Config {
  return editConfig(file, (raw, config) => {
    const vm = raw.vms?.[name];
    if (!Object.hasOwn(config.vms, name) || !vm) throw new ConfigError(file, [`vms.${name}: no such VM`]);
    if (color === null) delete vm.color;
    else vm.color = color;
  });
}
