/**
 * updates.review through the real daemon and its D-Bus API (sway, private
 * bus, fake notification server, stand-in nix; the VM is never started, so no
 * guest boots): a changed input holds the update — UpdateEvent `held`, a
 * notification, Status' updateHeld, Generations' held — and ApproveUpdate
 * builds the reviewed revision.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { errorMessage } from '../../shared/error-message.js';
import { REV, nextUpdate, startFlakeDesktop, type FlakeDesktop } from '../harness/flake-updates.js';

const t = suite('update review through the daemon');
let desk: FlakeDesktop;
t.before.each(async () => {
  desk = await startFlakeDesktop('review');
});
t.after.each(() => desk?.end());

t('a changed input is held and told; ApproveUpdate builds it; nothing held is refused', async () => {
  desk.nextBuild(REV.a);
  const daemon = await desk.session.startDaemon(
    { vms: { acme: { workspace: '3', flake: 'github:acme/net#acme', display: 'none', updates: { review: true } } }, policy: { pauseAfterMs: 60_000 } },
    { env: desk.env },
  );
  const { client } = daemon;
  const done = ['built', 'build-failed', 'up-to-date', 'held'];
  let next = nextUpdate(client, 'acme', done, 30_000);
  await client.update('acme');
  assert.equal(await next, { name: 'acme', kind: 'built', message: 'acme: update built: nothing → a1a1a1a (generation 1; used at its next start)' });

  desk.nextBuild(REV.b);
  desk.nix.setNixpkgs('1234567'.padEnd(40, '0'));
  next = nextUpdate(client, 'acme', done, 30_000);
  await client.update('acme');
  const held = await next;
  assert.is(held.kind, 'held', held.message);
  assert.match(held.message, /^acme: update held for review: a1a1a1a → b2b2b2b; inputs changed: nixpkgs \(github:NixOS\/nixpkgs\) 5e4fbfb → 1234567; 2 to build, 40 to fetch/);
  await desk.notifications.received((n) => n.summary === 'hiboss: acme: update held for review' && n.body === held.message);
  const status = (await client.status()).vms.find((vm) => vm.name === 'acme')!;
  assert.is(status.updateHeld, 'b2b2b2b');
  assert.is(status.lastUpdate, held.message);
  assert.is((await client.generations('acme')).held?.revision, REV.b);
  assert.equal((await client.generations('acme')).generations.map((g) => g.number), [1], 'nothing built');

  next = nextUpdate(client, 'acme', done, 30_000);
  assert.match(await client.approveUpdate('acme'), /^acme: updating: building the approved revision b2b2b2b of github:acme\/net#acme/);
  assert.equal(await next, { name: 'acme', kind: 'built', message: 'acme: update built: a1a1a1a → b2b2b2b (generation 2; used at its next start)' });
  assert.is((await client.status()).vms.find((vm) => vm.name === 'acme')!.updateHeld, null);
  const refused = await client.approveUpdate('acme').then(() => undefined, (e: unknown) => e);
  assert.match(errorMessage(refused), /acme: no update is held for review/);
});

t.run();
