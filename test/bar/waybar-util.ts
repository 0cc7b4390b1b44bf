/**
 * Helpers for the real-waybar tests: a headless sway desktop per test with
 * waybar on it, config files from the shipped fragment, PPM screenshots, pixel counts.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Test } from 'uvu';
import type { DaemonStatus } from '../../api/schema.js';
import { HIBOSS, REPO } from '../harness/daemon.js';
import { startSessionBus, type RunningBus } from '../harness/dbus.js';
import { startFakeDaemon, type FakeDaemon } from '../harness/fake-daemon.js';
import { start, track, type Started } from '../harness/processes.js';
import { makeSandbox, type Sandbox } from '../harness/sandbox.js';
import { startSway, type RunningWm } from '../harness/wm.js';
import { bound } from '../harness/bounds.js';

export const BAR_HEIGHT = 30;

/** Drops // and /* *\/ comments outside strings (the fragment is JSONC). */
export function stripJsonComments(text: string): string {
  let out = '';
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (ch === '"') {
      const end = /"(?:[^"\\]|\\.)*"/y;
      end.lastIndex = i;
      const m = end.exec(text);
      if (!m) throw new Error('unterminated string');
      out += m[0];
      i += m[0].length - 1;
    } else if (text.startsWith('//', i)) {
      i = text.indexOf('\n', i) - 1;
      if (i < 0) break;
    } else if (text.startsWith('/*', i)) {
      i = text.indexOf('*/', i) + 1;
    } else out += ch;
  }
  return out;
}

/**
 * A full waybar config around the shipped module block, with the commands
 * pointed at `hiboss` by absolute path (the test's PATH has no hiboss).
 */
export function writeWaybarFiles(dir: string, repo: string, hiboss: string, modules: string[], label: string, extraCss = ''): { config: string; style: string } {
  const fragment = JSON.parse(stripJsonComments(fs.readFileSync(path.join(repo, 'bar-module/waybar-module.jsonc'), 'utf8')));
  const module = fragment['custom/hiboss'] as Record<string, unknown>;
  for (const key of ['exec', 'on-click', 'on-scroll-up', 'on-scroll-down']) {
    module[key] = (module[key] as string).replace(/^hiboss /, `${hiboss} `);
  }
  const config = path.join(dir, `waybar-${label}.json`);
  fs.writeFileSync(
    config,
    JSON.stringify({ layer: 'top', position: 'top', height: BAR_HEIGHT, 'modules-left': modules, 'modules-center': [], 'modules-right': [], 'custom/hiboss': module }),
  );
  const style = path.join(dir, `waybar-${label}.css`);
  fs.writeFileSync(
    style,
    `* { font-family: "DejaVu Sans"; font-size: 15px; border: none; border-radius: 0; min-height: 0; }\n` +
      `window#waybar { background-color: #000000; color: #ffffff; }\n` +
      fs.readFileSync(path.join(repo, 'bar-module/style.css'), 'utf8') +
      extraCss,
  );
  return { config, style };
}

export interface Image {
  width: number;
  height: number;
  /** RGB, 3 bytes a pixel. */
  data: Buffer;
}

export function hex(colour: string): number {
  return parseInt(colour.slice(1), 16);
}

/** A screenshot of the whole output, as PPM (grim -t ppm): no PNG decoder needed. */
export async function screenshot(env: NodeJS.ProcessEnv): Promise<Image> {
  const proc = start('grim', ['-t', 'ppm', '-'], { env, extendEnv: false, encoding: 'buffer', stdout: 'pipe', stderr: 'pipe' });
  const result = await proc.child;
  if (result.exitCode !== 0) throw new Error(`grim failed: ${Buffer.from(result.stderr as Uint8Array).toString()}`);
  const buf = Buffer.from(result.stdout as Uint8Array);
  const header = /^P6\s+(\d+)\s+(\d+)\s+255\s/.exec(buf.subarray(0, 40).toString('latin1'));
  if (!header) throw new Error('grim: not a P6 PPM');
  const offset = header[0].length;
  return { width: Number(header[1]), height: Number(header[2]), data: buf.subarray(offset) };
}

export function countColour(img: Image, colour: number, rows = img.height): number {
  let n = 0;
  for (let i = 0; i < Math.min(rows, img.height) * img.width * 3; i += 3) {
    if (((img.data[i]! << 16) | (img.data[i + 1]! << 8) | img.data[i + 2]!) === colour) n++;
  }
  return n;
}

export function findBox(img: Image, colour: number, rows = img.height): { left: number; right: number; top: number; bottom: number } | null {
  let box: { left: number; right: number; top: number; bottom: number } | null = null;
  for (let y = 0; y < Math.min(rows, img.height); y++) {
    for (let x = 0; x < img.width; x++) {
      const i = (y * img.width + x) * 3;
      if (((img.data[i]! << 16) | (img.data[i + 1]! << 8) | img.data[i + 2]!) !== colour) continue;
      if (!box) box = { left: x, right: x, top: y, bottom: y };
      else {
        box.left = Math.min(box.left, x);
        box.right = Math.max(box.right, x);
        box.top = Math.min(box.top, y);
        box.bottom = Math.max(box.bottom, y);
      }
    }
  }
  return box;
}

/**
 * Screenshots until `ok` holds. Waybar tells nobody when it has redrawn, so
 * looking again is the only way to see it; bounded by `timeoutMs`.
 */
export async function waitForScreen(env: NodeJS.ProcessEnv, ok: (img: Image) => boolean, what: string, timeoutMs = 20_000): Promise<Image> {
  const deadline = Date.now() + bound(timeoutMs);
  let last: Image | undefined;
  while (Date.now() < deadline) {
    last = await screenshot(env);
    if (ok(last)) return last;
    await new Promise((resolve) => setTimeout(resolve, 150));
  }
  throw new Error(`the screen never showed ${what} within ${timeoutMs} ms`);
}

/** Every live descendant of `pid` (from /proc), to end them by pid. */
export function descendants(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      // The command name may hold spaces and parentheses: the ppid follows the last ')'.
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), Number(entry)]);
    } catch {
      /* gone meanwhile */
    }
  }
  const out: number[] = [];
  const visit = (p: number) => {
    for (const child of children.get(p) ?? []) {
      out.push(child);
      visit(child);
    }
  };
  visit(pid);
  return out;
}

export interface WaybarDesktop {
  /** This test's sandbox. */
  readonly sandbox: Sandbox;
  /** Where waybar and grim run: the sway session and the private bus. */
  env(): NodeJS.ProcessEnv;
  /** Serves `status` as the daemon on this desktop's bus (fake-daemon.ts); stopped after the test. */
  startFakeDaemon(status: DaemonStatus): Promise<FakeDaemon>;
  /**
   * The real waybar with `modules` (the shipped module and style.css, its
   * commands this checkout's bin/hiboss), its files and log named waybar-NAME.*; ended after the test.
   */
  startWaybar(modules: string[], name: string): Started;
  /**
   * Ends waybar the way a session does (SIGINT: waybar then ends its modules; on
   * SIGTERM it dies without doing so). Whatever it started is tracked first, so
   * nothing outlives the test even if waybar does not clean up.
   */
  stopWaybar(waybar: Started): Promise<void>;
}

/** A fresh sandbox, private session bus and headless sway for every test of `t`, and all it started ended after it. */
export function waybarDesktopPerTest(t: Test, label: string): WaybarDesktop {
  let desktop: { sandbox: Sandbox; bus: RunningBus; wm: RunningWm; daemons: FakeDaemon[]; waybars: Started[] } | undefined;
  t.before.each(async () => {
    const sandbox = makeSandbox(label);
    desktop = { sandbox, bus: await startSessionBus(sandbox.env), wm: await startSway(sandbox), daemons: [], waybars: [] };
  });
  t.after.each(async () => {
    if (!desktop) return;
    const { sandbox, bus, wm, daemons, waybars } = desktop;
    desktop = undefined;
    for (const waybar of waybars.splice(0)) await stopWaybar(waybar);
    for (const daemon of daemons) daemon.stop();
    await wm.stop();
    bus.stop();
    sandbox.remove();
  });
  const current = () => {
    if (!desktop) throw new Error('a desktop is there only while a test runs');
    return desktop;
  };
  // No accessibility bus: GTK would start at-spi daemons through our bus, outside any pid we track.
  const env = (): NodeJS.ProcessEnv => ({ ...current().wm.env, DBUS_SESSION_BUS_ADDRESS: current().bus.address, NO_AT_BRIDGE: '1', GTK_A11Y: 'none' });
  async function stopWaybar(waybar: Started): Promise<void> {
    const waybars = desktop?.waybars ?? [];
    if (waybars.includes(waybar)) waybars.splice(waybars.indexOf(waybar), 1);
    for (const pid of descendants(waybar.pid)) track(pid);
    try {
      process.kill(waybar.pid, 'SIGINT');
    } catch {
      /* gone */
    }
    await Promise.race([waybar.exited, new Promise((resolve) => setTimeout(resolve, 3000).unref())]);
    await waybar.stop();
  }
  return {
    get sandbox() {
      return current().sandbox;
    },
    env,
    async startFakeDaemon(status) {
      const daemon = await startFakeDaemon(current().bus.address, status);
      current().daemons.push(daemon);
      return daemon;
    },
    startWaybar(modules, name) {
      const { sandbox, waybars } = current();
      const { config, style } = writeWaybarFiles(sandbox.root, REPO, HIBOSS, modules, name);
      // A file descriptor, not {file}: execa would pipe {file} through us, and the module (which
      // inherits waybar's stderr) would hold that pipe open after waybar is gone.
      // (execa's types only list fds 3–9 here; node's spawn takes any.)
      const fd = fs.openSync(path.join(sandbox.root, `waybar-${name}.log`), 'a') as 3;
      const waybar = start('waybar', ['-c', config, '-s', style], { env: env(), extendEnv: false, stdout: fd, stderr: fd });
      fs.closeSync(fd);
      waybars.push(waybar);
      return waybar;
    },
    stopWaybar,
  };
}
