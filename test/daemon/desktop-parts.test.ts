/**
 * The parts of sound and the clipboard that need no running program: the audio device's argv,
 * the one rule for clipboard text, the sound server's output as parsed, the
 * host clipboard's commands, and the microphone in the bar's text. The real
 * programs are in e2e-sound.test.ts and e2e-clipboard.test.ts.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { audioArgs, audioArgsNow, socketAnswers, soundServerSocket } from '../../daemon/launch/audio.js';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { clipText, MAX_CLIP_BYTES } from '../../api/clipboard.js';
import { captureStreams, SourceOutputs } from '../../daemon/sound/pulse.js';
import { subscribedEvent } from '../harness/sound-server.js';
import { hostClipboardCommands } from '../../daemon/clipboard/host.js';
import { renderUpdate, type RenderContext } from '../../bar-module/render.js';
import { daemonStatus, vmFixture as vm } from '../harness/fake-daemon.js';
import { GuestClipboard, VmConfig } from '../../config/schema.js';
import { treeRows } from '../../panel/view-model.js';

const t = suite('sound and clipboard parts');
const bytes = (text: string) => new TextEncoder().encode(text);
const always = () => true;

t('audio: an HDA duplex codec on the pulse protocol, its mixer kept in QEMU; none when off or without a server', () => {
  const env = { XDG_RUNTIME_DIR: '/run/user/1000' };
  assert.equal(audioArgs({}, env, always), [
    '-audiodev', 'pa,id=hiboss-audio,server=unix:/run/user/1000/pulse/native',
    '-device', 'intel-hda,id=hiboss-hda',
    '-device', 'hda-duplex,bus=hiboss-hda.0,audiodev=hiboss-audio,mixer=off',
  ]);
  assert.equal(audioArgs({ audio: false }, env, always), [], '"audio": false');
  assert.equal(audioArgs({}, env, () => false), [], 'no sound server socket');
  assert.equal(audioArgs({}, {}, always), [], 'no runtime dir');
  assert.is(soundServerSocket({ PULSE_SERVER: 'unix:/tmp/p,a/native', XDG_RUNTIME_DIR: '/x' }), '/tmp/p,a/native');
  assert.match(audioArgs({}, { PULSE_SERVER: '/tmp/p,a/native' }, always)[1]!, /server=unix:\/tmp\/p,,a\/native$/, 'a comma in a path is doubled for QEMU');
  assert.is(soundServerSocket({ PULSE_SERVER: 'tcp:10.0.0.1:4713' }), null, 'a network sound server is never used');
});

t('audio: only a sound server that answers gets a device (QEMU will not start on a socket left by a dead one)', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hb-audio-'));
  try {
    const socket = path.join(dir, 'pulse', 'native');
    fs.mkdirSync(path.dirname(socket));
    const env = { XDG_RUNTIME_DIR: dir };
    assert.equal(await audioArgsNow({}, env), [], 'no socket');
    const server = net.createServer((connection) => connection.destroy());
    await new Promise<void>((resolve) => server.listen(socket, resolve));
    assert.is(await socketAnswers(socket), true);
    assert.is((await audioArgsNow({}, env)).length, 6, 'a server that answers');
    assert.equal(await audioArgsNow({ audio: false }, env), []);
    await new Promise<void>((resolve) => server.close(() => resolve()));
    // What a crashed server leaves: the socket file, nobody behind it.
    const stale = net.createServer();
    await new Promise<void>((resolve) => stale.listen(socket, resolve));
    fs.renameSync(socket, `${socket}.kept`);
    await new Promise<void>((resolve) => stale.close(() => resolve()));
    fs.renameSync(`${socket}.kept`, socket);
    assert.ok(fs.existsSync(socket));
    assert.is(await socketAnswers(socket), false);
    assert.equal(await audioArgsNow({}, env), [], 'a stale socket');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

t('config: audio, whenHidden and the guest clipboard commands (absolute paths, defaults for NixOS VMs)', () => {
  const parsed = VmConfig.parse({ qemu: ['qemu-system-x86_64'], audio: false, whenHidden: 'run', clipboard: {} });
  assert.equal(parsed.clipboard, { paste: ['/run/current-system/sw/bin/hiboss-clipboard', 'paste'], copy: ['/run/current-system/sw/bin/hiboss-clipboard', 'copy'] });
  assert.not.ok(GuestClipboard.safeParse({ paste: ['wl-paste'] }).success, 'a relative program is refused');
  assert.not.ok(VmConfig.safeParse({ qemu: ['q'], whenHidden: 'sleep' }).success);
});

t('clipboard text: UTF-8 with newlines and tabs crosses; empty, too long, not UTF-8 or with control characters does not', () => {
  assert.equal(clipText(bytes('a\tb\nc ✓'), 'X'), { ok: true, text: 'a\tb\nc ✓' });
  assert.equal(clipText(new Uint8Array(0), 'X'), { ok: false, reason: 'X is empty' });
  assert.equal(clipText(bytes('x'.repeat(MAX_CLIP_BYTES)), 'X').ok, true, 'exactly the bound');
  assert.match((clipText(bytes('x'.repeat(MAX_CLIP_BYTES + 1)), 'X') as { reason: string }).reason, /^X holds more than 64 KiB/);
  assert.equal(clipText(new Uint8Array([0x61, 0xff]), 'X'), { ok: false, reason: 'X is not UTF-8 text' });
  for (const [char, code] of [['\u001b', '1B'], ['\r', '0D'], ['\u0000', '00'], ['\u007f', '7F'], ['\u0085', '85']] as const) {
    const result = clipText(bytes(`a${char}b`), 'X');
    assert.equal(result, { ok: false, reason: `X holds a control character (U+00${code}); only text with newlines and tabs crosses` });
  }
});

t('the sound server: capture streams with the recording process, and subscribe lines', () => {
  const listed = SourceOutputs.parse([
    { index: 3, mute: true, corked: false, properties: { 'application.process.id': '4242', 'media.name': 'hiboss-audio' } },
    { index: 4, mute: false, properties: {} },
  ]);
  assert.equal(captureStreams(listed), [{ index: 3, pid: 4242, mute: true }, { index: 4, pid: null, mute: false }]);
  assert.equal(subscribedEvent("Event 'new' on source-output #12"), { kind: 'new', facility: 'source-output', index: 12 });
  assert.equal(subscribedEvent("Event 'change' on sink-input #0\n"), { kind: 'change', facility: 'sink-input', index: 0 });
  assert.is(subscribedEvent('Event new on nothing'), null);
  assert.not.ok(SourceOutputs.safeParse([{ index: -1, mute: false, properties: {} }]).success);
});

t('the host clipboard: wl-clipboard under sway, xclip under i3, text only', () => {
  assert.equal(hostClipboardCommands('sway'), { read: ['wl-paste', '--no-newline', '--type', 'text/plain;charset=utf-8'], write: ['wl-copy', '--type', 'text/plain;charset=utf-8'] });
  assert.equal(hostClipboardCommands('i3').read, ['xclip', '-selection', 'clipboard', '-out', '-target', 'UTF8_STRING']);
});

t('the bar: 🎤 after the VM that hears; 🎤NAME📌 when a pin keeps it elsewhere; nothing without a sound server', () => {
  const ctx: RenderContext = { now: 0, clock: String };
  const status = daemonStatus([vm('web', { state: 'running', workspace: '2' }), vm('call', { state: 'running', workspace: '3' })], 'web', '2');
  const text = (microphone: { vm: string | null; pinned: boolean } | undefined) => JSON.parse(renderUpdate('waybar', { ...status, microphone }, ctx));
  assert.is(text({ vm: 'web', pinned: false }).text, 'web ▶ 🎤');
  assert.is(text({ vm: 'web', pinned: true }).text, 'web ▶ 🎤📌');
  assert.is(text({ vm: 'call', pinned: true }).text, 'web ▶ 🎤call📌');
  assert.is(text({ vm: null, pinned: false }).text, 'web ▶');
  assert.is(text(undefined).text, 'web ▶');
  assert.match(text({ vm: 'call', pinned: true }).tooltip, /▶ call: running 🎤📌 pinned/);
});

t('the panel: the tree marks the VM that hears with 🎤 (📌 when pinned)', () => {
  const status = daemonStatus([vm('web', { state: 'running', workspace: '2' }), vm('call', { state: 'running', workspace: '3' })], 'web', '2');
  const rows = treeRows({ ...status, microphone: { vm: 'call', pinned: true } }, '/nonexistent').filter((row) => row.kind === 'vm');
  assert.match(rows.find((row) => row.vm.name === 'call')!.text, / running 🎤📌$/);
  assert.not.match(rows.find((row) => row.vm.name === 'web')!.text, /🎤/);
});

t.run();
