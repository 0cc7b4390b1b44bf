/**
 * Before an update of a VM whose flake is a fetched copy (`path:…/fetched/…#NAME`):
 * such a copy never changes by itself, so the daemon first follows where it came
 * from (market/follow.ts) — a catalogue entry fetched again and its signature
 * checked, a Yggdrasil repository cloned again — and, when the origin now names
 * another copy, points the VM's config entry at it and re-reads the config. Done
 * here, behind the D-Bus Update method, so every client (the CLI's `hiboss update`,
 * the panel's `u`) follows the origin the same way; none edits config.json itself.
 */
import { setVmFlake } from '../../config/file.js';
import type { Config } from '../../config/schema.js';
import { followOrigin } from '../../market/follow.js';
import { recordOrigin } from '../../market/origins.js';
import { fetchedDir, marketCacheDir } from '../../market/paths.js';
import { errorMessage } from '../../shared/error-message.js';
import { RequestError } from '../errors.js';

/** The daemon's config file, as the D-Bus interface reaches it. */
export interface ConfigFileAccess {
  path: string;
  /** Re-reads the file; the problems when it was refused (the last good config stays). */
  reload(): string[];
}

export interface FollowDependencies {
  config: Config;
  file: ConfigFileAccess;
  /** A line for the VM's log (clients stream it as `NAME: line`). */
  note(message: string): void;
}

/** Follows `name`'s origin when its flake is a fetched copy; throws a RequestError, changing nothing, when it cannot. */
export async function followBeforeUpdate(name: string, deps: FollowDependencies): Promise<void> {
  const vm = Object.hasOwn(deps.config.vms, name) ? deps.config.vms[name] : undefined;
  if (vm?.flake === undefined) return; // not a flake VM: the updater's own refusal says so
  const fetchedRoot = fetchedDir();
  // The follow's own lines begin with the VM's name; the log adds it again.
  const note = (line: string) => deps.note(line.startsWith(`${name}: `) ? line.slice(name.length + 2) : line);
  const follow = await followOrigin(name, vm.flake, deps.config, { fetchedRoot, cacheDir: marketCacheDir(), onLine: note });
  if (follow === null) return;
  switch (follow.kind) {
    case 'cannot':
      throw new RequestError('Failed', follow.message);
    case 'same':
      note(follow.note);
      return;
    case 'moved': {
      note(follow.note);
      try {
        setVmFlake(deps.file.path, name, follow.flake);
      } catch (error) {
        throw new RequestError('Failed', `${name}: cannot point ${deps.file.path} at ${follow.flake}: ${errorMessage(error)}`);
      }
      if (follow.dir !== null) recordOrigin(name, follow.dir, follow.origin, fetchedRoot);
      note(`${deps.file.path} now names ${follow.flake}`);
      const problems = deps.file.reload();
      if (problems.length) throw new RequestError('Failed', `${name}: the daemon refused the config: ${problems.join('; ')}`);
      return;
    }
    default: {
      const never: never = follow;
      throw new Error(`unknown follow ${JSON.stringify(never)}`);
    }
  }
}
