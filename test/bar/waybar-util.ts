/** Helpers for the real-waybar tests: config files from the shipped fragment, PPM screenshots, pixel counts. */
import fs from 'node:fs';
import path from 'node:path';
import { start } from '../harness/processes.js';

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
  const deadline = Date.now() + timeoutMs;
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
