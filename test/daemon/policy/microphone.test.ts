/**
 * The pure policy: who may hear the member (daemon/policy/microphone.ts) — the
 * focused workspace's VM, or the VM it is pinned to; nobody while locked or
 * asleep; never a VM without audio. Driven by ./driver.ts (no sockets).
 */
import * as assert from 'uvu/assert';
import { decide } from '../../../daemon/policy/policy.js';
import { ACME, DEV, MAIL, newSuite, Driver, vm } from './driver.js';

const mic = newSuite('policy: the microphone follows focus');
/** The microphone actions among what was told since the last call. */
const heard = (d: Driver) => d.takeTold().filter((line) => line.startsWith('microphone'));
const pin = (d: Driver, name: string | null) => d.send({ type: 'mic', verb: 'pin', name });
const unpin = (d: Driver) => d.send({ type: 'mic', verb: 'unpin', name: null });

function desk(): Driver {
  const d = new Driver([DEV, MAIL, ACME, { ...vm('quiet', '4'), audio: false }]);
  d.bootFocused('1');
  return d;
}

mic('nobody hears before the WM says what is focused; then the focused VM does, and it follows every switch', () => {
  const d = new Driver([DEV, MAIL]);
  assert.is(d.state.mic.holder, null);
  d.startUp('1');
  assert.equal(heard(d), ['microphone dev']);
  d.switchTo('2');
  assert.equal(heard(d), ['microphone mail'], 'the focus event alone moves it; the snapshot after it changes nothing');
  d.switchTo('9');
  assert.equal(heard(d), ['microphone nobody'], 'a workspace without VM: nobody');
});

mic('a VM with "audio": false never gets it: its workspace focused means nobody hears', () => {
  const d = desk();
  heard(d);
  d.switchTo('4');
  assert.equal(heard(d), ['microphone nobody']);
  pin(d, 'quiet');
  assert.equal(d.lastAnswer, null, 'not a user verb: answered through the decision');
});

mic('pin keeps it with a VM on every workspace until unpin', () => {
  const d = desk();
  heard(d);
  d.switchTo('2');
  assert.equal(heard(d), ['microphone mail']);
  pin(d, null); // the focused workspace's VM
  assert.equal(heard(d), ['microphone mail (pinned)']);
  d.switchTo('1');
  d.switchTo('3: acme');
  assert.equal(heard(d), [], 'pinned: switching moves nothing');
  assert.equal(d.state.mic, { pinned: 'mail', holder: 'mail' });
  unpin(d);
  assert.equal(heard(d), ['microphone acme'], 'unpinned: back with the focused VM');
});

mic('answers: pin names an unknown VM, a VM without audio, or nothing with no VM focused; unpin says what it undid', () => {
  const d = desk();
  const ask = (name: string | null, verb: 'pin' | 'unpin' = 'pin') => decide(d.state, { type: 'mic', verb, name }, Date.now());
  assert.equal(ask('nosuch').answer, { ok: false, kind: 'NoSuchVm', message: 'no VM named "nosuch"' });
  assert.equal(ask('quiet').answer, { ok: false, kind: 'InvalidArgument', message: 'quiet has no audio device ("audio": false in the config)' });
  assert.equal(ask('nosuch').state.mic, d.state.mic, 'a refused pin changes nothing');
  assert.equal(ask(null, 'unpin').answer?.message, 'the microphone was not pinned: it follows the focused workspace');
  d.switchTo('9');
  assert.equal(ask(null).answer, { ok: false, kind: 'InvalidArgument', message: 'the focused workspace has no VM: name the VM to pin the microphone to' });
  pin(d, 'acme');
  assert.equal(ask(null, 'unpin').answer?.message, 'microphone unpinned from acme: it follows the focused workspace again');
});

mic('lock: nobody hears, the pin ends; unlock: the focused VM again (the pin stays ended)', () => {
  const d = desk();
  pin(d, 'mail');
  heard(d);
  d.send({ type: 'lock' });
  assert.equal(heard(d), ['microphone nobody']);
  assert.equal(d.state.mic.pinned, null);
  pin(d, 'mail');
  assert.equal(d.state.mic.pinned, null, 'no pin while locked');
  d.send({ type: 'unlock' });
  assert.equal(heard(d), ['microphone dev']);
});

mic('sleep: nobody hears; wake: the focused VM', () => {
  const d = desk();
  heard(d);
  d.send({ type: 'sleep', releaseWithinMs: 1000 });
  assert.equal(heard(d), ['microphone nobody']);
  d.send({ type: 'wake' });
  assert.equal(heard(d), ['microphone dev']);
});

mic('a pinned VM removed from the config lets go of the microphone', () => {
  const d = desk();
  pin(d, 'acme');
  heard(d);
  d.send({ type: 'config', vms: [DEV, MAIL], settings: d.state.settings });
  assert.equal(heard(d), ['microphone dev']);
  assert.is(d.state.mic.pinned, null);
});

mic.run();
