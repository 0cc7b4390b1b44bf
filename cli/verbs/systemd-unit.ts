/**
 * `hiboss systemd-unit`: the shipped packaging/systemd/hiboss.service with an
 * ExecStart for this very install. npm's prefix varies (/usr/local, /usr, ~/.local,
 * nvm's per-version trees) and systemd's user manager searches a fixed PATH, so a
 * static unit cannot know where hiboss — or node, for the shebang's `env` — is.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs, UsageError, type Verb } from '../args.js';

// dist/cli/verbs/ → the package root (the repo, or node_modules/hiboss when installed).
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
export const UNIT_TEMPLATE = path.join(ROOT, 'packaging', 'systemd', 'hiboss.service');
const BIN = path.join(ROOT, 'bin', 'hiboss');

/**
 * node's flags from bin/hiboss's shebang (`#!/usr/bin/env -S node FLAG…`): the
 * one place they are set, so the unit runs the daemon exactly as `hiboss daemon` would.
 */
export function shebangNodeFlags(shebang: string): string[] {
  const words = shebang.replace(/^#!/, '').trim().split(/\s+/);
  const node = words.findIndex((w) => w === 'node' || w.endsWith('/node'));
  return node < 0 ? [] : words.slice(node + 1);
}

/** One ExecStart word: systemd expands % and $, and splits on blanks unless quoted. */
export function systemdWord(word: string): string {
  const escaped = word.replaceAll('%', '%%').replaceAll('$', '$$$$');
  if (!/[\s"'\\;]/.test(escaped)) return escaped;
  return `"${escaped.replaceAll('\\', '\\\\').replaceAll('"', '\\"')}"`;
}

export function renderUnit(template: string, execStart: string[]): string {
  const lines = template.split('\n');
  const at = lines.filter((l) => l.startsWith('ExecStart='));
  if (at.length !== 1) throw new Error(`${UNIT_TEMPLATE}: expected one ExecStart= line, found ${at.length}`);
  return lines.map((l) => (l.startsWith('ExecStart=') ? `ExecStart=${execStart.map(systemdWord).join(' ')}` : l)).join('\n');
}

export const systemdUnitVerb: Verb = {
  usage: `usage: hiboss systemd-unit [--config PATH]

Prints packaging/systemd/hiboss.service with ExecStart set to this node and this
hiboss by absolute path (npm's install prefix varies; systemd's PATH is fixed):
  hiboss systemd-unit > ~/.config/systemd/user/hiboss.service
  systemctl --user daemon-reload && systemctl --user enable --now hiboss.service
  --config PATH   passed on to hiboss daemon (default: its own default)`,
  async run(argv) {
    const { flags, positional } = parseArgs(argv, { valued: ['config'] });
    if (positional.length) throw new UsageError(`unexpected argument "${positional[0]}"`);
    const config = flags.get('config') as string | undefined;
    const shebang = fs.readFileSync(BIN, 'utf8').split('\n', 1)[0]!;
    const execStart = [process.execPath, ...shebangNodeFlags(shebang), BIN, 'daemon'];
    if (config !== undefined) execStart.push('--config', path.resolve(config));
    process.stdout.write(renderUnit(fs.readFileSync(UNIT_TEMPLATE, 'utf8'), execStart));
    return 0;
  },
};
