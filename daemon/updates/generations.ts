/**
 * The generations of one flake VM, kept in its state dir:
 *
 *   $XDG_STATE_HOME/hiboss/NAME/generations/generations.json   what was built, how it went
 *   $XDG_STATE_HOME/hiboss/NAME/generations/N/result           nix build --out-link: a GC root
 *
 * Each successful build is a generation. `nix build --out-link …/N/result`
 * registers the symlink as an indirect GC root, so `nix-collect-garbage` cannot
 * take a kept generation; pruning a generation removes its symlink, which
 * makes it collectable again. The JSON file is written atomically and read
 * bounded through one schema; the window of a generation being judged is kept
 * there too, so a daemon that restarts mid-window can finish the judgement.
 */
import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { Generation, HeldUpdate } from '../../api/schema.js';
import { writeFileAtomic } from '../../config/file.js';
import { readFileBounded } from '../../config/read-bounded.js';
import { errorCode, errorMessage } from '../../shared/error-message.js';
import { DaemonError } from '../errors.js';

export const DEFAULT_KEEP_GENERATIONS = 5;
const MAX_FILE_BYTES = 1024 * 1024;

/** A health window in progress: the generation booted at `bootedAt`, judged by `deadline` (epoch ms). */
export const OpenWindow = z.strictObject({
  generation: z.number().int().positive(),
  bootedAt: z.number(),
  deadline: z.number(),
  /** The generation to go back to if it fails (null: none healthy). */
  previous: z.number().int().positive().nullable(),
});
export type OpenWindow = z.infer<typeof OpenWindow>;

export const GenerationsFile = z.strictObject({
  version: z.literal(1),
  /** The generation the VM's next cold start boots. */
  selected: z.number().int().positive().nullable(),
  generations: z.array(Generation).max(1000),
  window: OpenWindow.nullable(),
  /** When an automatic update last looked for a new revision (epoch ms). */
  lastCheckAt: z.number().nullable(),
  /** An update held for the member's review (updates.review), or null. */
  held: HeldUpdate.nullable().optional(),
});
export type GenerationsFile = z.infer<typeof GenerationsFile>;

export class GenerationsFileError extends DaemonError {}

const EMPTY: GenerationsFile = { version: 1, selected: null, generations: [], window: null, lastCheckAt: null };

export class GenerationStore {
  readonly dir: string;
  readonly file: string;

  constructor(readonly stateDir: string) {
    this.dir = path.join(stateDir, 'generations');
    this.file = path.join(this.dir, 'generations.json');
  }

  /** Where generation N's GC root lives (`nix build --out-link` writes it). */
  gcRoot(number: number): string {
    return path.join(this.dir, String(number), 'result');
  }

  /** The file as it is; absent is empty. A file that is not ours to trust is an error saying why. */
  read(): GenerationsFile {
    let text: string;
    try {
      text = readFileBounded(this.file, MAX_FILE_BYTES);
    } catch (error) {
      if (errorCode(error) === 'ENOENT') return structuredClone(EMPTY);
      throw new GenerationsFileError(`${this.file}: ${errorMessage(error)}`);
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      throw new GenerationsFileError(`${this.file}: not JSON`);
    }
    const parsed = GenerationsFile.safeParse(json);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      throw new GenerationsFileError(`${this.file}: ${issue.path.join('.') || '(root)'}: ${issue.message}`);
    }
    return parsed.data;
  }

  write(data: GenerationsFile): void {
    const checked = GenerationsFile.parse(data);
    fs.mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    writeFileAtomic(this.file, JSON.stringify(checked, null, 2) + '\n');
  }

  /** Read, change, write back (one writer: the daemon). Returns what was written. */
  update(change: (data: GenerationsFile) => void): GenerationsFile {
    const data = this.read();
    change(data);
    this.write(data);
    return data;
  }

  /**
   * The number the next build gets, and its directory for `--out-link`. A number
   * whose directory exists is taken (a build under way, or one a crash left), so
   * two builds at once never share a GC root.
   */
  prepareNext(): { number: number; outLink: string } {
    const data = this.read();
    fs.mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    const taken = fs.readdirSync(this.dir).filter((entry) => /^\d+$/.test(entry)).map(Number);
    for (let number = Math.max(0, ...taken, ...data.generations.map((g) => g.number)) + 1; ; number++) {
      try {
        fs.mkdirSync(path.join(this.dir, String(number)), { mode: 0o700 });
      } catch (error) {
        if (errorCode(error) === 'EEXIST') continue;
        throw error;
      }
      return { number, outLink: this.gcRoot(number) };
    }
  }

  /** A build that did not become a generation: its directory (and any link) goes. */
  discard(number: number): void {
    const data = this.read();
    if (data.generations.some((g) => g.number === number)) return;
    fs.rmSync(path.dirname(this.gcRoot(number)), { recursive: true, force: true });
  }

  /** Records a new generation and selects it for the next start; prunes beyond `keep`. */
  add(generation: Generation, keep: number): GenerationsFile {
    return this.update((data) => {
      data.generations = [...data.generations.filter((g) => g.number !== generation.number), generation].sort((a, b) => a.number - b.number);
      data.selected = generation.number;
      this.#prune(data, keep);
    });
  }

  /** Prunes beyond `keep` (after a judgement: a healthy generation may let an older one go). */
  prune(keep: number): GenerationsFile {
    return this.update((data) => this.#prune(data, keep));
  }

  /**
   * Keeps the newest `keep` generations, the newest healthy one and the selected
   * one; the others' GC roots are removed (nix may then collect them).
   */
  #prune(data: GenerationsFile, keep: number): void {
    const newestFirst = [...data.generations].sort((a, b) => b.number - a.number);
    const kept = new Set(newestFirst.slice(0, Math.max(1, keep)).map((g) => g.number));
    const healthy = newestFirst.find((g) => g.outcome === 'healthy');
    if (healthy) kept.add(healthy.number);
    if (data.selected !== null) kept.add(data.selected);
    if (data.window) {
      kept.add(data.window.generation);
      if (data.window.previous !== null) kept.add(data.window.previous);
    }
    for (const g of data.generations) {
      if (!kept.has(g.number)) fs.rmSync(path.dirname(this.gcRoot(g.number)), { recursive: true, force: true });
    }
    data.generations = data.generations.filter((g) => kept.has(g.number));
  }
}

export function findGeneration(data: GenerationsFile, number: number | null): Generation | undefined {
  return number === null ? undefined : data.generations.find((g) => g.number === number);
}

/**
 * The newest healthy generation other than `except`, built from `flake` (a
 * generation of another flake is never booted for this one: the launcher
 * builds the configured flake instead).
 */
export function lastHealthy(data: GenerationsFile, except: number | undefined, flake: string): Generation | undefined {
  return [...data.generations]
    .sort((a, b) => b.number - a.number)
    .find((g) => g.outcome === 'healthy' && g.number !== except && g.flake === flake);
}

/** A GC root that still points into the store (the link exists and its target does). */
export function gcRootAlive(link: string): boolean {
  try {
    return fs.lstatSync(link).isSymbolicLink() && fs.existsSync(link);
  } catch {
    return false;
  }
}
