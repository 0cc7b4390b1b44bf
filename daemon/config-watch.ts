/**
 * Watches the config file through its directory: editors replace the file by
 * rename, which a watch on the file itself would miss. When the directory goes
 * (rm -rf ~/.config/hiboss), the watch moves to the nearest parent that still
 * exists and comes back down as the directories are made again, so a recreated
 * config is seen without a manual reload.
 */
import fs from 'node:fs';
import path from 'node:path';
import { errorMessage } from '../shared/error-message.js';

/** One save is several events (write, rename): read once they settle. */
const SETTLE_MS = 50;

export class ConfigWatch {
  #watcher: fs.FSWatcher | undefined;
  /** The directory watched now: the config's own, or an ancestor while it is missing. */
  #watched = '';
  #settle: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(
    private readonly file: string,
    /** The file may have changed (or appeared, or gone). */
    private readonly onChange: () => void,
    private readonly warn: (message: string) => void,
  ) {}

  start(): void {
    this.#arm();
  }

  close(): void {
    this.#closed = true;
    clearTimeout(this.#settle);
    this.#watcher?.close();
  }

  /** Watches the deepest existing directory on the way to the file. */
  #arm(): void {
    if (this.#closed) return;
    const target = path.dirname(this.file);
    let dir = target;
    while (!isDirectory(dir) && path.dirname(dir) !== dir) dir = path.dirname(dir);
    if (dir === this.#watched && this.#watcher) return;
    this.#watcher?.close();
    this.#watcher = undefined;
    this.#watched = dir;
    const base = path.basename(this.file);
    // The next path component we wait for, while an ancestor is watched.
    const next = dir === target ? base : path.relative(dir, target).split(path.sep)[0]!;
    try {
      this.#watcher = fs.watch(dir, (_event, name) => {
        // In the config's own directory every event counts (the directory itself may be
        // going); above it, only the component on the way down.
        if (dir !== target && name !== null && name !== next) return;
        this.#changed();
      });
      this.#watcher.on('error', () => this.#changed());
    } catch (error) {
      this.#watched = '';
      this.warn(`cannot watch ${dir}: ${errorMessage(error)}; use hiboss reload`);
      return;
    }
    // Made between our look and the watch: see it now rather than never.
    if (dir !== target && isDirectory(path.join(dir, next))) this.#changed();
  }

  #changed(): void {
    clearTimeout(this.#settle);
    this.#settle = setTimeout(() => {
      // The watched directory may have gone, or a missing one come back.
      this.#arm();
      this.onChange();
    }, SETTLE_MS);
  }
}

function isDirectory(dir: string): boolean {
  try {
    return fs.statSync(dir).isDirectory();
  } catch {
    return false;
  }
}
