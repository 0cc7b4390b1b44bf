/**
 * `hiboss network identity|admit|remove` as users run them (bin/hiboss):
 * identity through the real daemon, which reads the file a real guest
 * published through Debian's real guest agent; admit and remove on a network
 * checkout, where a refused change leaves configs.json byte for byte as it was
 * (and no temporary behind), and flake.nix is never touched.
 */
import { execa } from 'execa';
import fs from 'node:fs';
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { AgentClient } from '../../qga/client.js';
import { checkConfigs } from '../../networks/configs-schema.js';
import { encodeJoinRequest, GUEST_IDENTITY_PATH, parseJoinRequest, type GuestIdentity } from '../../networks/join-request.js';
import { bounded } from '../harness/bounded.js';
import { HIBOSS, type RunningDaemon } from '../harness/daemon.js';
import { desktopPerTest, realGuestForSuite } from '../harness/fixtures.js';
import { guestQemuArgv } from '../harness/guest.js';
import { guestExec, withAgent } from '../harness/records.js';
import { makeSandbox, type Sandbox } from '../harness/sandbox.js';

const t = suite('hiboss network identity | admit | remove');
const test = bounded(t, 120_000);
const guest = realGuestForSuite(t);
const session = desktopPerTest(t, 'sway', 'network');
let daemon: RunningDaemon | undefined;
let sandbox: Sandbox;
t.before(() => {
  sandbox = makeSandbox('network-cli');
});
t.after(() => sandbox?.remove());
t.after.each(() => {
  daemon = undefined;
});

async function hiboss(args: string[], env: NodeJS.ProcessEnv = daemon?.env ?? sandbox.env) {
  const r = await execa(process.execPath, [HIBOSS, ...args], { env, extendEnv: false, reject: false, stdin: 'ignore', timeout: 60_000 });
  assert.not.ok(r.timedOut, `hiboss ${args.join(' ')} timed out`);
  return { code: r.exitCode, stdout: String(r.stdout), stderr: String(r.stderr) };
}

const WG = (c: string) => `${c.repeat(42)}A=`;
const FLAKE = '# the admin\'s own flake.nix: admit and remove never touch it\n';

/** A network checkout: configs.json with alice, the admin's flake.nix. */
function checkout(name: string): string {
  const dir = path.join(sandbox.root, name);
  fs.mkdirSync(dir, { recursive: true });
  const configs = {
    default: {
      networkLayer: 'wireguard',
      wireguard: { address: '10.77.0.1/24' },
      applications: { syncthing: { enable: true, sharedFolders: ['/shared/docs'] } },
      members: { alice: { address: '10.77.0.1', admin: true, endpoint: 'alice.example:51820', wireguard: { publicKey: WG('a') } } },
    },
  };
  fs.writeFileSync(path.join(dir, 'configs.json'), `${JSON.stringify(configs, null, 2)}\n`);
  fs.writeFileSync(path.join(dir, 'flake.nix'), FLAKE);
  return dir;
}
const read = (dir: string) => fs.readFileSync(path.join(dir, 'configs.json'), 'utf8');
const entries = (dir: string) => fs.readdirSync(dir).sort();

test('admit then remove: configs.json rewritten, checked, flake.nix untouched, the next step said', async () => {
  const dir = checkout('admit');
  const request = encodeJoinRequest({ v: 1, name: 'bob', wireguard: { publicKey: WG('b') }, endpoint: 'bob.example:51820' });
  const admitted = await hiboss(['network', 'admit', dir, request, '--serves', '']);
  assert.is(admitted.code, 0, admitted.stderr);
  assert.match(admitted.stdout, /^admitted bob \(10\.77\.0\.2\) to default in .*configs\.json$/m);
  assert.match(admitted.stdout, /git -C .* commit -m "admit bob" configs\.json && git -C .* push/);
  const configs = checkConfigs(JSON.parse(read(dir)));
  assert.equal(configs.default!.members.bob!.wireguard, { publicKey: WG('b') });
  assert.is(configs.default!.members.bob!.endpoint, 'bob.example:51820');
  assert.is(fs.readFileSync(path.join(dir, 'flake.nix'), 'utf8'), FLAKE);
  assert.equal(entries(dir), ['configs.json', 'flake.nix'], 'no temporary left');

  const removed = await hiboss(['network', 'remove', dir, 'bob']);
  assert.is(removed.code, 0, removed.stderr);
  assert.match(removed.stdout, /^removed bob from default in /m);
  assert.equal(Object.keys(checkConfigs(JSON.parse(read(dir))).default!.members), ['alice']);
});

test('admit on zerotier: the address its controller assigned, and a reminder to authorise the node there', async () => {
  const dir = path.join(sandbox.root, 'zerotier');
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'configs.json'), JSON.stringify({ default: { networkLayer: 'zerotier', zerotier: { networkId: 'a8a2c3c10c1a68de' } } }));
  const request = encodeJoinRequest({ v: 1, name: 'bob', zerotier: { nodeId: '89e92ceee5' } });
  const without = await hiboss(['network', 'admit', dir, request]);
  assert.is(without.code, 1);
  assert.match(without.stderr, /the one its controller assigned: give it with --address/);
  const admitted = await hiboss(['network', 'admit', dir, request, '--address', '10.147.17.5']);
  assert.is(admitted.code, 0, admitted.stderr);
  assert.match(admitted.stdout, /authorise ZeroTier node 89e92ceee5 in the network's controller too/);
  assert.equal(checkConfigs(JSON.parse(read(dir))).default!.members.bob!.address, '10.147.17.5');
});

test('refused: a clear error, exit 1, configs.json byte for byte as it was', async () => {
  const dir = checkout('refuse');
  const before = read(dir);
  const cases: Array<[string[], RegExp]> = [
    [['network', 'admit', dir, 'hiboss-join-request:%%%'], /malformed join request: the part after the prefix is not base64url/],
    [['network', 'admit', dir, encodeJoinRequest({ v: 1, name: 'alice', wireguard: { publicKey: WG('c') } })], /"alice" is already a member/],
    [['network', 'admit', dir, encodeJoinRequest({ v: 1, name: 'carol', wireguard: { publicKey: WG('a') } })], /this wireguard key is already member alice's/],
    [['network', 'admit', dir, encodeJoinRequest({ v: 1, name: 'carol', wireguard: { publicKey: WG('c') } }), '--address', '10.77.0.1'], /address 10\.77\.0\.1 is already member alice's/],
    [['network', 'admit', dir, encodeJoinRequest({ v: 1, name: 'carol', yggdrasil: { publicKey: 'a'.repeat(64) } })], /the request has no wireguard key/],
    [['network', 'remove', dir, 'mallory'], /no member "mallory" in configs\.json \(members: alice\)/],
  ];
  for (const [args, pattern] of cases) {
    const result = await hiboss(args);
    assert.is(result.code, 1, `${args.join(' ')}: ${result.stdout}${result.stderr}`);
    assert.match(result.stderr, pattern);
    assert.is(read(dir), before, `${args[1]} changed configs.json`);
    assert.equal(entries(dir), ['configs.json', 'flake.nix']);
  }
  const wrongShape = JSON.stringify({ v: 1, name: 'carol', wireguard: { publicKey: 'nope' } });
  const shape = await hiboss(['network', 'admit', dir, `hiboss-join-request:${Buffer.from(wrongShape).toString('base64url')}`]);
  assert.is(shape.code, 1);
  assert.match(shape.stderr, /wireguard\.publicKey: "nope" is not of the right shape/);
  assert.is(read(dir), before);
  const usage = await hiboss(['network', 'admit', dir]);
  assert.is(usage.code, 2);
  assert.match(usage.stderr, /needs a join request/);
});

const IDENTITY: GuestIdentity = {
  v: 1,
  name: 'bob',
  wireguard: { publicKey: WG('b') },
  syncthing: { deviceId: 'MFZWI3D-BONSGYC-YLTMRWG-C43ENR5-QXGZDMM-FZWI3DP-BONSGYY-LTMRWAB' },
};

/** What the VM's hiboss-identity service does at boot, done here through the agent (no shell). */
async function publish(agent: AgentClient, identity: GuestIdentity): Promise<void> {
  const mkdir = await guestExec(agent, ['/bin/mkdir', '-p', path.dirname(GUEST_IDENTITY_PATH)]);
  assert.is(mkdir.code, 0, mkdir.stderr);
  const handle = await agent.execute('guest-file-open', { path: GUEST_IDENTITY_PATH, mode: 'w' });
  try {
    await agent.execute('guest-file-write', { handle, 'buf-b64': Buffer.from(JSON.stringify(identity)).toString('base64') });
  } finally {
    await agent.execute('guest-file-close', { handle });
  }
}

test("identity: the real guest's published file, read through its agent by the daemon, as a join request the admin admits", async () => {
  const root = session.sandbox.root;
  const agentSocket = path.join(root, 'bob.qga');
  daemon = await session.startDaemon({
    vms: {
      bob: { workspace: '2', qemu: guestQemuArgv(guest, path.join(root, 'bob.serial'), '', { agentSocket }) },
      plain: { workspace: '3', qemu: guestQemuArgv(guest, path.join(root, 'plain.serial')) },
    },
    policy: { pauseAfterMs: 600_000 },
  });
  const stopped = await hiboss(['network', 'identity', 'bob']);
  assert.is(stopped.code, 1);
  assert.match(stopped.stderr, /bob is not running/);

  const running = daemon.client.waitForState('bob', (c) => c.state === 'running', 30_000);
  await session.wmc.command('workspace 2');
  await running;
  // QEMU serves the agent's channel to one client at a time: the test lets go before the daemon reads.
  await withAgent(agentSocket, (agent) => agent.ping());
  const early = await hiboss(['network', 'identity', 'bob']);
  assert.is(early.code, 1);
  assert.match(early.stderr, /bob has not published its identity \(\/var\/lib\/hiboss\/identity\.json\) yet/, early.stderr);
  await withAgent(agentSocket, (agent) => publish(agent, IDENTITY));

  const line = await hiboss(['network', 'identity', 'bob', '--endpoint', 'bob.example:51820']);
  assert.is(line.code, 0, line.stderr);
  assert.is(line.stdout.trimEnd().split('\n').length, 1, 'one line to paste');
  assert.equal(parseJoinRequest(line.stdout), { ...IDENTITY, endpoint: 'bob.example:51820' });
  const json = await hiboss(['network', 'identity', 'bob', '--json']);
  assert.equal(JSON.parse(json.stdout), IDENTITY);

  const dir = checkout('from-guest');
  const admitted = await hiboss(['network', 'admit', dir, line.stdout.trim()]);
  assert.is(admitted.code, 0, admitted.stderr);
  assert.equal(checkConfigs(JSON.parse(read(dir))).default!.members.bob!.syncthing, IDENTITY.syncthing);

  // A VM without an agent channel cannot say who it is.
  const plainRunning = daemon.client.waitForState('plain', (c) => c.state === 'running', 30_000);
  await session.wmc.command('workspace 3');
  await plainRunning;
  const plain = await hiboss(['network', 'identity', 'plain']);
  assert.is(plain.code, 1);
  assert.match(plain.stderr, /plain has no guest agent channel/);
});

test('identity: a published file that is not an identity is refused, naming the file', async () => {
  const root = session.sandbox.root;
  const agentSocket = path.join(root, 'odd.qga');
  daemon = await session.startDaemon({ vms: { odd: { workspace: '2', qemu: guestQemuArgv(guest, path.join(root, 'odd.serial'), '', { agentSocket }) } }, policy: { pauseAfterMs: 600_000 } });
  const running = daemon.client.waitForState('odd', (c) => c.state === 'running', 30_000);
  await session.wmc.command('workspace 2');
  await running;
  await withAgent(agentSocket, (agent) => publish(agent, { ...IDENTITY, wireguard: { publicKey: 'private-key-by-mistake' } }));
  const result = await hiboss(['network', 'identity', 'odd']);
  assert.is(result.code, 1);
  assert.match(result.stderr, /\/var\/lib\/hiboss\/identity\.json in the VM: wireguard\.publicKey: .* is not of the right shape/);
});

t.run();
