/**
 * The panel's members screen, on a headless blessed screen with a
 * fake daemon service on a private bus through the real DaemonClient: `i`
 * shows the VM's join request (its Identity over D-Bus) and copies it; with
 * the network's checkout in the networks dir, `a` admits a pasted request and
 * `d` removes a member after asking — configs.json rewritten — and a bad
 * request is refused on screen with nothing written.
 */
import fs from 'node:fs';
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { DaemonClient } from '../../api/client.js';
import { checkConfigs } from '../../networks/configs-schema.js';
import { encodeJoinRequest, parseJoinRequest, type GuestIdentity } from '../../networks/join-request.js';
import { Panel } from '../../panel/app.js';
import { startSessionBus, type RunningBus } from '../harness/dbus.js';
import { makeSandbox, type Sandbox } from '../harness/sandbox.js';
import { daemonStatus, startFakeDaemon, vmFixture, type FakeDaemon } from '../harness/fake-daemon.js';
import { headlessScreen, type Headless } from './headless.js';

const t = suite('panel: members');
let sandbox: Sandbox;
let bus: RunningBus;
let daemon: FakeDaemon;
let client: DaemonClient;
let head: Headless;
let panel: Panel;
let checkout: string;
const copied: string[] = [];

const WG = (c: string) => `${c.repeat(42)}A=`;
const BOB: GuestIdentity = { v: 1, name: 'bob', wireguard: { publicKey: WG('b') } };
const configsText = () => fs.readFileSync(path.join(checkout, 'configs.json'), 'utf8');

t.before.each(async () => {
  sandbox = makeSandbox('pmembers');
  const networksDir = path.join(sandbox.dataHome, 'networks');
  checkout = path.join(networksDir, 'family');
  fs.mkdirSync(checkout, { recursive: true });
  fs.writeFileSync(
    path.join(checkout, 'configs.json'),
    JSON.stringify({ default: { networkLayer: 'wireguard', wireguard: { address: '10.77.0.1/24' }, members: { alice: { address: '10.77.0.1', admin: true, wireguard: { publicKey: WG('a') } } } } }, null, 2),
  );
  bus = await startSessionBus(sandbox.env);
  const vm = vmFixture('family', { state: 'running', workspace: '2', kind: 'flake', flake: `path:${checkout}#default` });
  daemon = await startFakeDaemon(bus.address, daemonStatus([vm], 'family', '2'));
  client = await DaemonClient.connect({ busAddress: bus.address });
  head = headlessScreen(120, 40);
  const configFile = path.join(sandbox.configHome, 'hiboss', 'config.json');
  fs.mkdirSync(path.dirname(configFile), { recursive: true });
  panel = new Panel({ screen: head.screen, client, configFile, networksDir, onQuit: () => undefined });
  const screen = head.screen as typeof head.screen & { copyToClipboard(text: string): boolean };
  screen.copyToClipboard = (text: string) => (copied.push(text), true);
  await panel.start();
  await head.waitFor(/family/);
});
t.after.each(() => {
  panel?.dispose();
  head?.destroy();
  client?.close();
  daemon?.stop();
  bus?.stop();
  sandbox?.remove();
  copied.length = 0;
});

t('i: the join request from the VM identity, copied with c; not published yet: said so', async () => {
  head.type('i');
  await head.waitFor(/family has not published its identity yet/);
  head.type('\x1b');
  await head.waitFor((text) => !/Members — family/.test(text));

  daemon.iface.identities.set('family', BOB);
  head.type('i');
  await head.waitFor(/hiboss-join-request:/);
  head.type('c');
  await head.waitFor(/join request copied/);
  assert.equal(copied.map((line) => parseJoinRequest(line)), [BOB]);
  assert.ok(daemon.iface.calls.some((call: unknown[]) => call[0] === 'Identity' && call[1] === 'family'));
  assert.match(head.text(), /alice +10\.77\.0\.1 +admin/);
});

t('a admits a pasted request; a bad one is refused with nothing written; d removes after asking', async () => {
  head.type('i');
  await head.waitFor(/Members in /);
  const before = configsText();
  head.type('a');
  await head.waitFor(/Paste the join request/);
  head.type('hiboss-join-request:nonsense!');
  head.type('\r');
  await head.waitFor(/malformed join request/);
  assert.is(configsText(), before, 'nothing written');

  head.type('a');
  await head.waitFor(/Paste the join request/);
  head.type(encodeJoinRequest({ ...BOB, endpoint: 'bob.example:51820' }));
  head.type('\r');
  await head.waitFor(/admitted bob \(10\.77\.0\.2\): commit and push configs\.json/);
  await head.waitFor(/bob +10\.77\.0\.2/);
  assert.equal(Object.keys(checkConfigs(JSON.parse(configsText())).default!.members), ['alice', 'bob']);

  head.type('\x1b[B'); // down: bob
  head.type('d');
  await head.waitFor(/Remove bob\? y: remove, n: keep/);
  head.type('y');
  await head.waitFor(/removed bob: commit and push configs\.json/);
  assert.equal(Object.keys(checkConfigs(JSON.parse(configsText())).default!.members), ['alice']);
});

t.run();
