/**
 * No code path runs a file from a network's build output, checked
 * two ways besides the hostile-flake test: every place hiboss starts a program
 * is listed here with where its program comes from (a new one fails this test
 * until it is reviewed and added), and nothing in the daemon still refers to
 * what a network's build used to provide to run (its run script, QEMU_OPTS,
 * system.build.vm).
 */
import fs from 'node:fs';
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { REPO } from './nix-eval.js';

const t = suite('spawn sites');

const SOURCE_DIRS = ['daemon', 'cli', 'panel', 'api', 'networks', 'market', 'bar-module', 'qga', 'qmp', 'transport', 'wm-ipc', 'config', 'shared'];
const SPAWN = /\b(execa|execaSync|spawn|spawnSync|execFile|execFileSync|execSync|exec|fork)\(\s*([^,)]*)/g;

/** file → the program expression of each spawn site, and where that program comes from. */
const SITES: Record<string, Array<[string, string]>> = {
  'daemon/vm/vm-process.ts': [['command.file', "a launcher's command: the qemu VM's argv[0] from config.json, or a flake VM's qemuBinary (config.json) / qemu-system-x86_64 on PATH (flake-argv.ts)"]],
  'daemon/vm/image-stream.ts': [["'cat'", 'PATH']],
  'daemon/clipboard/host.ts': [
    ['file!', 'wl-paste (sway) or xclip (i3) on PATH'],
    ['file!', 'wl-copy (sway) or xclip (i3) on PATH'],
  ],
  'daemon/host/logind.ts': [['program', 'systemd-inhibit on PATH']],
  'daemon/backup/qemu-img.ts': [["'qemu-img'", 'PATH']],
  'daemon/backup/targets.ts': [["'restic'", 'PATH']],
  'daemon/backup/storage-daemon.ts': [["'qemu-storage-daemon'", 'PATH']],
  'daemon/launch/uplink.ts': [['file!', "passt on PATH (UplinkOptions.passt: the daemon's own setting)"]],
  'daemon/launch/flake.ts': [
    ["this.#options.qemuImg ?? 'qemu-img'", 'PATH'],
    ['file', "nix on PATH (or nice, which runs it)"],
  ],
  'networks/flake-facts.ts': [["options.nix ?? 'nix'", 'PATH']],
  'cli/verbs/bar.ts': [['program', 'a terminal emulator on PATH']],
  'cli/desktop-handoff.ts': [['terminal.program', '$TERMINAL, xdg-terminal-exec or a known terminal emulator on PATH']],
  'panel/market-env.ts': [['process.execPath', 'node itself, running hiboss join']],
  'market/catalogue-fetch.ts': [["'git'", 'PATH'], ["'git'", 'PATH'], ["'git'", 'PATH']],
  'market/mirrors.ts': [["'git'", 'PATH']],
  'market/publish.ts': [["'nix-instantiate'", "PATH (evaluates the admin's own flake.nix description, nothing built or run)"]],
  'market/signature.ts': [["'ssh-keygen'", 'PATH'], ["'ssh-keygen'", 'PATH']],
  'market/source-tree.ts': [["'git'", 'PATH'], ["'git'", 'PATH'], ["'git'", 'PATH'], ["'nix-hash'", 'PATH']],
  'market/ygg.ts': [["'ip'", 'PATH'], ["'git'", 'PATH']],
  'cli/verbs/demo.ts': [
    ["'dbus-daemon'", 'PATH'],
    ['file', "the demo's sway (PATH) and its daemon (node itself), through #spawn"],
  ],
  'wm-ipc/discover.ts': [['binary', 'sway or i3 on PATH']],
};

function sources(dir: string): string[] {
  return fs.readdirSync(path.join(REPO, dir), { withFileTypes: true }).flatMap((entry) => {
    const rel = path.join(dir, entry.name);
    if (entry.isDirectory()) return sources(rel);
    return entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts') ? [rel] : [];
  });
}

t('every program hiboss starts is one of the recorded sites', () => {
  const found: Record<string, string[]> = {};
  for (const file of SOURCE_DIRS.filter((dir) => fs.existsSync(path.join(REPO, dir))).flatMap(sources)) {
    const code = fs
      .readFileSync(path.join(REPO, file), 'utf8')
      .split('\n')
      .filter((line) => !/^\s*(\/\/|\*|\/\*)/.test(line))
      .join('\n');
    for (const match of code.matchAll(SPAWN)) {
      // A method of our own named exec/fork (client.exec(…)) is not a process.
      const before = code.slice(Math.max(0, match.index - 1), match.index);
      if (before === '.' || before === '#') continue;
      (found[file] ??= []).push(match[2]!.trim());
    }
  }
  const expected = Object.fromEntries(Object.entries(SITES).map(([file, sites]) => [file, sites.map(([program]) => program)]));
  assert.equal(found, expected, 'a new way to start a program: review where its program comes from, then record it here');
});

t('the daemon no longer runs what a network build provides (run script, QEMU_OPTS, system.build.vm)', () => {
  for (const file of sources('daemon')) {
    const code = fs
      .readFileSync(path.join(REPO, file), 'utf8')
      .split('\n')
      .filter((line) => !/^\s*(\/\/|\*|\/\*)/.test(line))
      .join('\n');
    assert.not.match(code, /run-.*-vm|QEMU_OPTS|NIX_DISK_IMAGE|system\.build\.vm|findRunScript/, file);
  }
});

t.run();
