/** Small, strict argument handling shared by every verb: bad input is a one-line error and exit 2. */
import { controlCharacterProblem } from '../shared/control-chars.js';

export class UsageError extends Error {
  override name = 'UsageError';
}

export interface Parsed {
  flags: Map<string, string | true>;
  positional: string[];
}

/**
 * Parses `--flag`, `--key value`/`--key=value` and positionals. `valued` names
 * the flags that take a value; any other unknown flag is refused. No value and no
 * positional may hold a control character (shared/control-chars.ts), unless the verb
 * says it checks its positionals itself (`positionals: 'checked-by-verb'`: a URI with
 * its own refusal, JSON that may span lines).
 */
export function parseArgs(argv: string[], known: { boolean?: string[]; valued?: string[]; positionals?: 'checked-by-verb' }): Parsed {
  const flags = new Map<string, string | true>();
  const positional: string[] = [];
  const booleans = new Set(['help', ...(known.boolean ?? [])]);
  const valued = new Set(known.valued ?? []);
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') {
      positional.push(...argv.slice(i + 1));
      break;
    }
    if (arg === '-h') {
      flags.set('help', true);
      continue;
    }
    if (!arg.startsWith('--') || arg === '--') {
      positional.push(arg);
      continue;
    }
    const [name, inline] = arg.slice(2).split(/=(.*)/s, 2) as [string, string | undefined];
    if (booleans.has(name) && inline === undefined) flags.set(name, true);
    else if (valued.has(name)) {
      const value = inline ?? argv[++i];
      if (value === undefined) throw new UsageError(`--${name} needs a value`);
      flags.set(name, value);
    } else throw new UsageError(`unknown option --${name}`);
  }
  for (const [name, value] of flags) {
    const problem = value === true ? null : controlCharacterProblem(value, `--${name}`);
    if (problem) throw new UsageError(problem);
  }
  if (known.positionals !== 'checked-by-verb') {
    for (const [index, arg] of positional.entries()) {
      const problem = controlCharacterProblem(arg, `argument ${index + 1}`);
      if (problem) throw new UsageError(problem);
    }
  }
  return { flags, positional };
}

/** A verb's module; its one-line summary is in the verb table (cli/verbs/index.ts), the only one. */
export interface Verb {
  /** Full --help text. */
  usage: string;
  run(argv: string[]): Promise<number>;
}

/** Runs `run` unless --help was asked for. */
export function helpRequested(argv: string[]): boolean {
  return argv.includes('--help') || argv.includes('-h');
}

/** An integer flag within bounds; anything else is a usage error naming the flag. */
export function integerFlag(flags: Parsed['flags'], name: string, fallback: number, min: number, max: number): number {
  const raw = flags.get(name);
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (typeof raw !== 'string' || !/^\d+$/.test(raw) || value < min || value > max) {
    throw new UsageError(`--${name} must be a whole number from ${min} to ${max}`);
  }
  return value;
}
