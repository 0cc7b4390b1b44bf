/** The pure policy: purity and wake-ups. Driven by ./driver.ts (fake clock, invariants checked on every decision). */
import * as assert from 'uvu/assert';
import { decide, initialState, type PolicyEvent } from '../../../daemon/policy/policy.js';
import { T0, SETTINGS, DEV, MAIL, ws, vm, newSuite, Driver, clock } from './driver.js';

const pure = newSuite('policy: purity and wake-ups');

pure('decide leaves its input untouched (compared, not frozen)', () => {
  let state = initialState(SETTINGS, [DEV, MAIL, vm('bg', null)], T0);
  const events: PolicyEvent[] = [
    { type: 'workspaces', focused: ws('1'), visible: [ws('1')] },
    { type: 'observed', name: 'dev', state: 'running', reason: 'up' },
    { type: 'focus', workspace: ws('2') },
    { type: 'workspaces', focused: ws('2'), visible: [ws('2')] },
    { type: 'user', verb: 'start', name: 'bg' },
    { type: 'observed', name: 'bg', state: 'failed', reason: 'crash' },
    { type: 'user', verb: 'restart', name: 'mail' },
    { type: 'config', vms: [DEV, vm('bg', null)], settings: { ...SETTINGS, pauseAfterMs: 10 } },
    { type: 'tick' },
    { type: 'session-end' },
  ];
  let now = T0;
  for (const event of events) {
    const before = structuredClone(state);
    const eventBefore = structuredClone(event);
    const decision = decide(state, event, now);
    assert.equal(state, before, `state mutated by ${event.type}`);
    assert.equal(event, eventBefore, `event mutated by ${event.type}`);
    assert.ok(decision.wakeAt === null || decision.wakeAt > now, `${event.type}: wakeAt ${decision.wakeAt} at ${now}`);
    state = decision.state;
    now += 2000;
  }
});

pure('wakeAt is null when nothing is pending', () => {
  const d = new Driver([DEV, MAIL, vm('bg', null)]);
  d.bootFocused('1', '2');
  assert.is(d.wakeAt, null);
  d.user('start', 'bg');
  d.observe('bg', 'running');
  assert.is(d.wakeAt, null, 'a VM without a workspace is never paused');
  clock.tick(60_000);
  assert.is(d.idleTicks, 0);
});

pure('a VM without a workspace is restarted after a failure without being focused', () => {
  const d = new Driver([vm('bg', null)]);
  d.user('start', 'bg');
  d.observe('bg', 'running');
  d.take();
  d.observe('bg', 'failed', 'crash');
  clock.tick(1000);
  assert.equal(d.takeOps(), ['1000 start bg']);
});


// A switch's second half: QEMU's reply to `cont` after its RESUME event has been decided.
function resumedDev() {
  let state = initialState(SETTINGS, [DEV, MAIL], T0);
  const step = (event: PolicyEvent, at: number) => {
    const decision = decide(state, event, at);
    state = decision.state;
    return decision;
  };
  step({ type: 'workspaces', focused: ws('2'), visible: [ws('2')] }, T0);
  step({ type: 'observed', name: 'dev', state: 'paused', reason: 'up' }, T0);
  step({ type: 'focus', workspace: ws('1') }, T0 + 10);
  step({ type: 'observed', name: 'dev', state: 'running' }, T0 + 11);
  return { state: () => state, step };
}

pure('a reply whose event was decided already changes nothing: the same state back, no actions', () => {
  const { state, step } = resumedDev();
  const before = state();
  assert.is(before.vms.dev!.op, null, 'the RESUME event ended the resume');
  const decision = step({ type: 'op-done', name: 'dev', op: 'resume' }, T0 + 12);
  assert.is(decision.state, before, 'not even a copy');
  assert.equal(decision.actions, []);
  assert.is(decision.wakeAt, decide(before, { type: 'tick' }, T0 + 12).wakeAt, 'the same wake-up a full decision sets');
});

pure('a reply that comes after a deadline has passed gets the full decision: what is due is done at once', () => {
  const { state, step } = resumedDev();
  step({ type: 'workspaces', focused: ws('1'), visible: [ws('1')] }, T0 + 12);
  // mail is not running; the deadline that passes is dev's own pause once workspace 1 is hidden.
  step({ type: 'workspaces', focused: ws('2'), visible: [ws('2')] }, T0 + 20);
  const due = T0 + 20 + SETTINGS.pauseAfterMs;
  const before = state();
  const decision = step({ type: 'op-done', name: 'dev', op: 'resume' }, due + 1);
  assert.ok(decision.state !== before, 'a new state');
  assert.ok(decision.actions.some((a) => a.type === 'pause' && a.name === 'dev'), decision.actions.map((a) => a.type).join(', '));
});

pure.run();
