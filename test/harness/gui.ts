/**
 * Real QEMU windows for end-to-end tests: the guest with a gtk display, as a
 * Wayland client of headless sway or an X11 client of i3's Xvfb; the WM tree
 * watched through events; title bars captured with grim (sway) for pixel checks.
 */
import { execa } from 'execa';
import type { WmClient } from '../../wm-ipc/client.js';
import type { Node } from '../../wm-ipc/protocol.js';
import type { RunningWm } from './wm.js';
import { bound } from './bounds.js';

/** The same argv with a gtk window instead of `-display none` (std VGA: a plain framebuffer gtk can show). */
export function withGtkDisplay(argv: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '-display' && argv[i + 1] === 'none') {
      i++;
      continue;
    }
    out.push(argv[i]!);
  }
  return [...out, '-display', 'gtk', '-vga', 'std'];
}

/** Environment that puts gtk on this WM's display server (the daemon passes its environment to QEMU). */
export function gtkEnv(wm: RunningWm): NodeJS.ProcessEnv {
  // No accessibility bus in the sandbox: without this gtk waits for one and warns.
  return { GDK_BACKEND: wm.kind === 'sway' ? 'wayland' : 'x11', NO_AT_BRIDGE: '1' };
}

export interface View {
  node: Node;
  /** Name of the workspace holding it ("__i3_scratch" for the scratchpad). */
  workspace: string;
}

/** Every window (leaf container) in a GET_TREE reply, with its workspace. */
export function viewsOf(tree: Node): View[] {
  const views: View[] = [];
  const walk = (node: Node, workspace: string) => {
    const ws = node.type === 'workspace' ? (node.name ?? '') : workspace;
    const children = [...node.nodes, ...node.floating_nodes];
    if ((node.type === 'con' || node.type === 'floating_con') && children.length === 0 && (node.pid !== undefined || node.window != null)) {
      views.push({ node, workspace: ws });
    }
    for (const child of children) walk(child, ws);
  };
  walk(tree, '');
  return views;
}

/** The workspace node a container sits in. */
export function workspaceOf(tree: Node, id: number): Node | undefined {
  let found: Node | undefined;
  const walk = (node: Node, ws: Node | undefined) => {
    const here = node.type === 'workspace' ? node : ws;
    if (node.id === id) found = here;
    for (const child of [...node.nodes, ...node.floating_nodes]) walk(child, here);
  };
  walk(tree, undefined);
  return found;
}

/**
 * Resolves with the first value `pick` finds in the WM tree, looking again on
 * every window and workspace event (the test's client must be subscribed to both).
 */
export function waitForTree<T>(wmc: WmClient, pick: (tree: Node) => T | undefined, timeoutMs: number, what: string): Promise<T> {
  timeoutMs = bound(timeoutMs);
  return new Promise<T>((resolve, reject) => {
    let looking = false;
    let again = false;
    let done = false;
    let lastTree: Node | undefined;
    const finish = (error: Error | undefined, value?: T) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      wmc.off('window', look);
      wmc.off('workspace', look);
      if (error) reject(error);
      else resolve(value as T);
    };
    const timer = setTimeout(() => {
      const seen = lastTree ? viewsOf(lastTree).map((v) => `${v.workspace}: ${JSON.stringify(v.node.name)} pid=${v.node.pid ?? '-'}`) : [];
      finish(new Error(`timed out waiting for ${what}; windows: ${seen.join('; ') || 'none'}`));
    }, timeoutMs);
    async function look() {
      if (looking) {
        again = true; // an event arrived mid-request: look once more after it
        return;
      }
      looking = true;
      try {
        do {
          again = false;
          lastTree = await wmc.getTree();
          const value = pick(lastTree);
          if (value !== undefined) return finish(undefined, value);
        } while (again && !done);
      } catch (error) {
        finish(error as Error);
      } finally {
        looking = false;
      }
    }
    wmc.on('window', look);
    wmc.on('workspace', look);
    void look();
  });
}

export interface Rect {
  x: number;
  y: number;
  width: number;
  height: number;
}

/** The screen area of a tiled container's title bar (sway: `deco_rect` is relative to the parent, `rect` absolute). */
export function titleBarRect(node: Node): Rect {
  const rect = node.rect as Rect;
  const deco = node.deco_rect as Rect;
  if (!deco || deco.height <= 0) throw new Error(`container ${node.id} has no title bar`);
  return { x: rect.x, y: rect.y - deco.height, width: deco.width, height: deco.height };
}

/** Raw pixels of a screen area of this sway (grim's PPM: a header, then RGB bytes — equal pixels, equal bytes). */
export async function capture(wm: RunningWm, area: Rect): Promise<Buffer> {
  const geometry = `${area.x},${area.y} ${area.width}x${area.height}`;
  const { stdout } = await execa('grim', ['-g', geometry, '-t', 'ppm', '-'], { env: wm.env, extendEnv: false, encoding: 'buffer' });
  return Buffer.from(stdout as Uint8Array);
}

/**
 * The title bar of container `id` once sway has laid it out. A window moved to a
 * hidden workspace has no geometry until that workspace is shown, and sway applies
 * the new layout when the client has acked it — no IPC event says so. Each round
 * waits for one rendered frame (grim's screencopy waits for the next frame), so
 * this follows sway's own pace, bounded.
 */
export async function laidOutTitleBar(wmc: WmClient, wm: RunningWm, id: number, timeoutMs: number): Promise<Rect> {
  timeoutMs = bound(timeoutMs);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const node = findNode(await wmc.getTree(), id);
    if (!node) throw new Error(`container ${id} is gone`);
    const deco = node.deco_rect as Rect | undefined;
    if (deco && deco.height > 0 && deco.width > 0) return titleBarRect(node);
    if (Date.now() > deadline) throw new Error(`container ${id} has no title bar after ${timeoutMs} ms`);
    await capture(wm, { x: 0, y: 0, width: 1, height: 1 });
  }
}

export function findNode(tree: Node, id: number): Node | undefined {
  if (tree.id === id) return tree;
  for (const child of [...tree.nodes, ...tree.floating_nodes]) {
    const found = findNode(child, id);
    if (found) return found;
  }
  return undefined;
}

/** A PNG of the whole output (for the README; mostly flat colours, so small). */
export async function screenshot(wm: RunningWm, file: string, scale = 1): Promise<void> {
  await execa('grim', ['-s', String(scale), '-t', 'png', '-l', '9', file], { env: wm.env, extendEnv: false });
}
