/**
 * The wm-ipc client against real sway (headless) and real i3 (Xvfb).
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { WmClient } from '../../wm-ipc/client.js';
import { WmCommandError, WmConnectionError } from '../../wm-ipc/errors.js';
import type { WorkspaceEvent } from '../../wm-ipc/protocol.js';
import { makeSandbox, type Sandbox } from '../harness/sandbox.js';
import { startWm, type RunningWm } from '../harness/wm.js';
import { errorMessage } from '../../shared/error-message.js';
import { bound } from '../harness/bounds.js';

const UNICODE_NAME = '2: vm-été 🖥 ✓';

function nextEvent<T>(client: WmClient, name: 'workspace' | 'shutdown' | 'end' | 'disconnected' | 'reconnected' | 'reconnecting', match: (e: T) => boolean = () => true, timeoutMs = 10_000): Promise<T> {
  return new Promise((resolve, reject) => {
    const limit = bound(timeoutMs);
    const timer = setTimeout(() => reject(new Error(`no ${name} event within ${limit} ms`)), limit);
    const listener = (event: T) => {
      if (!match(event)) return;
      clearTimeout(timer);
      (client.off as (n: string, l: unknown) => void)(name, listener);
      resolve(event);
    };
    (client.on as (n: string, l: unknown) => void)(name, listener);
  });
}

for (const kind of ['sway', 'i3'] as const) {
  const t = suite(`wm-ipc on real ${kind}`);
  let sandbox: Sandbox;
  let wm: RunningWm;
  let client: WmClient;

  t.before.each(async () => {
    sandbox = makeSandbox(kind);
    wm = await startWm(kind, sandbox);
    client = await WmClient.connect({ socketPath: wm.socketPath, backoff: undefined });
  });
  t.after.each(async () => {
    client?.close();
    await wm?.stop();
    sandbox?.remove();
  });

  t('a workspace with a non-ASCII name round-trips exactly', async () => {
    await client.subscribe(['workspace']);
    const focused = nextEvent<WorkspaceEvent>(client, 'workspace', (e) => e.change === 'focus');
    await client.command(`workspace "${UNICODE_NAME}"`);
    assert.is((await focused).current?.name, UNICODE_NAME);
    const workspaces = await client.getWorkspaces();
    const found = workspaces.find((w) => w.focused);
    assert.is(found?.name, UNICODE_NAME);
    assert.is(found?.num, 2);
    // The stream stays in step after the multi-byte payloads.
    assert.is((await client.getVersion()).major, kind === 'sway' ? 1 : 4);
  });

  t('replies stay matched while events interleave', async () => {
    const seen: string[] = [];
    await client.subscribe(['workspace']);
    client.on('workspace', (e) => e.change === 'focus' && seen.push(e.current!.name));
    const names = Array.from({ length: 30 }, (_, i) => `w${i}`);
    const replies = await Promise.all(
      names.flatMap((name) => [client.command(`workspace ${name}`), client.getWorkspaces(), client.getVersion()]),
    );
    for (let i = 0; i < names.length; i++) {
      assert.is((replies[i * 3] as { success: boolean }[])[0]!.success, true);
      assert.ok(Array.isArray(replies[i * 3 + 1]));
      assert.is((replies[i * 3 + 2] as { human_readable: string }).human_readable.length > 0, true);
    }
    // Events were delivered alongside, in order, and none was lost.
    await client.subscribe(['tick']);
    const tick = new Promise<void>((resolve) => client.once('tick', () => resolve()));
    await client.sendTick('done');
    await tick;
    assert.equal(seen, names);
  });

  t('a failed command is a WmCommandError with the WM\'s reason', async () => {
    try {
      await client.command('no-such-command');
      assert.unreachable('should fail');
    } catch (error) {
      assert.instance(error, WmCommandError);
      assert.ok(errorMessage(error).length > 20);
    }
  });

  t('the WM killed: a clear error, reconnect attempts, then events flow from the new WM', async () => {
    await client.subscribe(['workspace']);
    const disconnected = nextEvent<Error>(client, 'disconnected');
    const reconnecting = nextEvent<{ attempt: number }>(client, 'reconnecting', (e) => e.attempt >= 2);
    wm.process.child.kill('SIGKILL');
    await wm.process.exited;
    const error = await disconnected;
    assert.instance(error, WmConnectionError);
    assert.match(error.message, /closed|failed/);
    await reconnecting;
    await wm.stop();
    if (kind === 'sway') {
      // The new sway has a new socket path: the client follows it only through discovery.
      client.close();
      wm = await startWm(kind, sandbox);
      client = await WmClient.connect({ env: { XDG_RUNTIME_DIR: sandbox.runtimeDir, PATH: process.env.PATH } });
      assert.is(client.socketPath, wm.socketPath);
    } else {
      const reconnected = nextEvent<void>(client, 'reconnected', () => true, 20_000);
      wm = await startWm(kind, sandbox); // same ipc-socket path from the config
      await reconnected;
    }
    await client.subscribe(['workspace']);
    const focused = nextEvent<WorkspaceEvent>(client, 'workspace', (e) => e.change === 'focus');
    await client.command('workspace again');
    assert.is((await focused).current?.name, 'again');
  });

  t('the WM exits: the session ends once, no reconnect', async () => {
    await client.subscribe(['workspace']);
    let reconnects = 0;
    client.on('reconnecting', () => reconnects++);
    const ended = nextEvent<{ reason: string }>(client, 'end');
    void client.command('exit').catch(() => {}); // the WM may go before it answers
    assert.is((await ended).reason, 'exit');
    assert.is(reconnects, 0);
    assert.is(client.ended, true);
  });

  if (kind === 'i3') {
    t('i3 restart: shutdown{restart}, reconnect, subscriptions live again', async () => {
      await client.subscribe(['workspace', 'shutdown']);
      const shutdown = nextEvent<{ change: string }>(client, 'shutdown');
      const reconnected = nextEvent<void>(client, 'reconnected');
      void client.command('restart').catch(() => {});
      assert.is((await shutdown).change, 'restart');
      await reconnected;
      const focused = nextEvent<WorkspaceEvent>(client, 'workspace', (e) => e.change === 'focus');
      await client.command('workspace after-restart');
      assert.is((await focused).current?.name, 'after-restart');
      assert.is(client.ended, false);
    });
  }

  t.run();
}
