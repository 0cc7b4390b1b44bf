/**
 * Clipboard by hand, end to end: the host's clipboard is sway's real
 * one (wl-clipboard), the VM's is reached through Debian's real qemu-ga in a real
 * guest (the sound guest's stand-in clip-copy/clip-paste, named by the VM's
 * `clipboard` setting), and the real daemon carries text between them only when
 * asked — checked on both sides, with the notification that names the network.
 */
import { execa } from 'execa';
import fs from 'node:fs';
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { AgentClient } from '../../qga/client.js';
import { bounded } from '../harness/bounded.js';
import type { RunningDaemon } from '../harness/daemon.js';
import { guestQemuArgv, type Guest } from '../harness/guest.js';
import { pidsWithArg } from '../harness/inspect.js';
import { startNotificationServer, type NotificationServer } from '../harness/notifications.js';
import { track } from '../harness/processes.js';
import { startDesktop, type DesktopSession } from '../harness/session.js';
import { ensureSoundGuest, STAND_IN_CLIPBOARD } from '../harness/sound-guest.js';
import { bound } from '../harness/bounds.js';
import { keybindingSnippet } from '../../cli/verbs/wm-config.js';

const t = suite('clipboard by hand: host (sway, wl-clipboard) ⇄ VM (real guest agent), only through hiboss clip');
const test = bounded(t, 170_000);
let guest: Guest;
let session: DesktopSession;
let notifications: NotificationServer;
let daemon: RunningDaemon;

const runDir = (name: string) => path.join(session.sandbox.runtimeDir, 'hiboss', name);

/** Offered as text whatever it holds (wl-copy would call control characters binary data). */
async function hostCopy(text: string): Promise<void> {
  await execa('wl-copy', ['--type', 'text/plain;charset=utf-8'], { env: session.wm.env, extendEnv: false, input: text, stdout: 'ignore', stderr: 'ignore' });
}
async function hostPaste(): Promise<string> {
  const result = await execa('wl-paste', ['--no-newline'], { env: session.wm.env, extendEnv: false, reject: false });
  return result.exitCode === 0 ? result.stdout : `(nothing: ${result.stderr.trim()})`;
}

/** Runs a program in acme through its agent; its stdout (or why it failed). */
async function inGuest(argv: string[], input?: string): Promise<string> {
  const agent = await AgentClient.connect(path.join(runDir('acme'), 'qga.sock'));
  try {
    const { pid } = await agent.execute('guest-exec', { path: argv[0]!, arg: argv.slice(1), 'capture-output': true, ...(input === undefined ? {} : { 'input-data': Buffer.from(input).toString('base64') }) }, { timeoutMs: 10_000 });
    for (;;) {
      // The agent has no "exited" event: its status is asked until the program has exited.
      const status = await agent.execute('guest-exec-status', { pid }, { timeoutMs: 10_000 });
      if (status.exited) {
        const out = Buffer.from(status['out-data'] ?? '', 'base64').toString('utf8');
        return status.exitcode === 0 ? out : `(failed: ${Buffer.from(status['err-data'] ?? '', 'base64').toString('utf8').trim()})`;
      }
    }
  } finally {
    agent.close();
  }
}
const guestClipboard = () => inGuest(STAND_IN_CLIPBOARD.paste);
const guestCopy = (text: string) => inGuest(STAND_IN_CLIPBOARD.copy, text);

async function refused(call: Promise<string>): Promise<string> {
  return call.then((answer) => assert.unreachable(`not refused: ${answer}`) as never, (error: Error) => error.message);
}

t.before(async () => {
  guest = await ensureSoundGuest();
  // With hiboss's key bindings, as `hiboss wm-config` prints them.
  session = await startDesktop('sway', 'clip', { config: ['set $mod Mod4', ...keybindingSnippet().split('\n')] });
  notifications = await startNotificationServer(session.bus.address);
});
t.after(async () => {
  notifications?.stop();
  await session?.end();
});

test('no clipboard device at all; nothing crosses while nobody asks', async () => {
  fs.mkdirSync(runDir('acme'), { recursive: true, mode: 0o700 });
  daemon = await session.startDaemon({
    vms: { acme: { workspace: '2', audio: false, clipboard: STAND_IN_CLIPBOARD, qemu: guestQemuArgv(guest, path.join(session.sandbox.root, 'acme.serial'), '', { agentSocket: path.join(runDir('acme'), 'qga.sock') }) } },
  });
  const up = daemon.client.waitForState('acme', (c) => c.state === 'running', 120_000);
  await session.wmc.command('workspace 2');
  await up;
  const [pid] = pidsWithArg(runDir('acme'));
  track(pid!);
  // The guest agent answers once the guest has booted (connect, sync and ping, again until then).
  for (const deadline = Date.now() + bound(150_000); ; ) {
    const agent = await AgentClient.connect(path.join(runDir('acme'), 'qga.sock'));
    try {
      await agent.ping(1000);
      break;
    } catch (error) {
      if (Date.now() > deadline) throw error;
    } finally {
      agent.close();
    }
  }
  const argv = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
  assert.not.ok(argv.some((arg) => /vdagent|spicevmc|qemu-vdagent|clipboard/.test(arg)), `QEMU has no clipboard channel: ${argv.join(' ')}`);
  await hostCopy('on the host only');
  await guestCopy('in the VM only');
  assert.is(await guestClipboard(), 'in the VM only');
  assert.is(await hostPaste(), 'on the host only');
  assert.equal(notifications.calls().filter((n) => /clipboard/.test(n.summary)), []);
});

test('clip to: the host\'s text (newlines, tabs, UTF-8) into the VM\'s clipboard, with a notification naming it', async () => {
  const text = 'https://mumble.hiboss/\n\tsecond line ✓';
  await hostCopy(text);
  assert.match(await daemon.client.clipboard('to', 'acme'), /from the host's clipboard into acme's/);
  assert.is(await guestClipboard(), text);
  const note = await notifications.waitFor(/^hiboss: clipboard → acme$/);
  assert.match(note.body, /^2 lines \(\d+ characters\) from the host's clipboard into acme's$/);
  assert.not.match(note.body, /mumble/, 'the text itself is never shown');
});

test('clip from (the focused VM, through the key binding\'s verb): the VM\'s text onto the host\'s clipboard', async () => {
  await guestCopy('file name: notes-2026.txt');
  assert.match(await daemon.client.act('clipfrom'), /from acme's clipboard into the host's/);
  assert.is(await hostPaste(), 'file name: notes-2026.txt');
  await notifications.waitFor(/^hiboss: clipboard ← acme$/);
});

test('the key binding: Super+Ctrl+v pastes the host\'s clipboard into the focused VM\'s (a real key press in sway)', async () => {
  await hostCopy('pressed, not typed');
  const told = notifications.calls().length;
  await execa('wtype', ['-M', 'logo', '-M', 'ctrl', 'v', '-m', 'ctrl', '-m', 'logo'], { env: session.wm.env, extendEnv: false });
  const note = await notifications.waitFor(/^hiboss: clipboard → acme$/, 20_000, told);
  assert.match(note.body, /^18 characters from the host's clipboard into acme's$/);
  assert.is(await guestClipboard(), 'pressed, not typed');
});

test('refused, nothing changed: control characters and over 64 KiB, either way; a clear message and a notification', async () => {
  const before = await guestClipboard();
  await hostCopy('ls\u001b[31m red');
  const said = await refused(daemon.client.clipboard('to', 'acme'));
  assert.match(said, /the host's clipboard holds a control character \(U\+001B\).*nothing was copied into acme/, said);
  assert.is(await guestClipboard(), before, 'the VM\'s clipboard is unchanged');
  await hostCopy('x'.repeat(70 * 1024));
  assert.match(await refused(daemon.client.clipboard('to', 'acme')), /more than 64 KiB/);
  assert.is(await guestClipboard(), before);
  await notifications.waitFor(/^hiboss: clipboard → acme: refused$/);

  // Not text at all (wl-copy offers these bytes as binary data only): refused as such.
  await execa('wl-copy', [], { env: session.wm.env, extendEnv: false, input: Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 0x0d]), stdout: 'ignore', stderr: 'ignore' });
  assert.match(await refused(daemon.client.clipboard('to', 'acme')), /the host's clipboard holds no text \(text only crosses\): nothing was copied into acme/);
  assert.is(await guestClipboard(), before);

  await hostCopy('kept on the host');
  await guestCopy('bell\u0007');
  assert.match(await refused(daemon.client.clipboard('from', 'acme')), /acme's clipboard holds a control character \(U\+0007\).*host's clipboard is unchanged/);
  await guestCopy('y'.repeat(65 * 1024));
  assert.match(await refused(daemon.client.clipboard('from', 'acme')), /acme's clipboard holds more than 64 KiB/);
  assert.is(await hostPaste(), 'kept on the host');
  await notifications.waitFor(/^hiboss: clipboard ← acme: refused$/);
  // The guest's program fails (nothing copied in the VM): its own words, and the host's clipboard kept.
  await inGuest(['/bin/rm', '-f', '/run/clipboard']);
  assert.match(await refused(daemon.client.clipboard('from', 'acme')), /^\/bin\/clip-paste exited with code 1: Nothing is copied$/);
  assert.is(await hostPaste(), 'kept on the host');
});

test('refused: a VM that is not running, and a VM that does not exist', async () => {
  // Listening first, then asking: the change cannot slip in between.
  const paused = daemon.client.waitForState('acme', (c) => c.state === 'paused', 60_000);
  await daemon.client.pause('acme');
  await paused;
  assert.match(await refused(daemon.client.clipboard('to', 'acme')), /acme is paused: its clipboard is reachable only while it runs/);
  assert.match(await refused(daemon.client.clipboard('to', 'nosuch')), /no VM named "nosuch"/);
});

t.run();
