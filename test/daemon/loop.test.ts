/**
 * The policy loop with the real VM supervisor, sockets aside: events are decided
 * one at a time, and an outcome that comes back at once (a pause that finds no
 * QEMU) is queued, not decided inside the decision that caused it. The wake-up
 * comes from the state after the last event, so the retry it asks for happens.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sinon from 'sinon';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Config } from '../../config/schema.js';
import { PolicyLoop } from '../../daemon/loop.js';
import { initialState, type Action } from '../../daemon/policy/policy.js';
import { VmSupervisor } from '../../daemon/vm/supervisor.js';

const t = suite('policy loop');
let clock: sinon.SinonFakeTimers;
let dir: string;
t.before.each(() => {
  clock = sinon.useFakeTimers({ now: 1_000_000, toFake: ['setTimeout', 'clearTimeout', 'Date'] });
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hiboss-loop-'));
});
t.after.each(() => {
  clock.restore();
  fs.rmSync(dir, { recursive: true, force: true });
});

t('a pause that fails at once (no QEMU) is retried: the inner decision\'s wake-up is not lost', () => {
  const config = Config.parse({ vms: { dev: { workspace: '1', qemu: ['qemu-system-x86_64'] } }, policy: { pauseAfterMs: 1500 } });
  const done: string[] = [];
  let vms!: VmSupervisor;
  const loop = new PolicyLoop(
    initialState(config.policy, [{ name: 'dev', workspace: '1', restart: 'on-failure' }], Date.now()),
    (actions: Action[]) => {
      for (const action of actions) {
        if (action.type === 'pause') done.push(`${Date.now() - 1_000_000} pause`);
        if (action.type === 'pause' || action.type === 'resume') vms.carryOut(action);
      }
    },
    () => Date.now(),
  );
  vms = new VmSupervisor({ roots: { runRoot: path.join(dir, 'run'), stateRoot: path.join(dir, 'state') }, post: (e) => loop.post(e), config: () => config });
  // The policy believes dev runs (its QEMU vanished unseen); the user is on workspace 5.
  loop.post({ type: 'observed', name: 'dev', state: 'running' });
  loop.post({ type: 'workspaces', focused: { name: '5', num: 5 }, visible: [{ name: '5', num: 5 }] });
  clock.tick(1500);
  assert.equal(done, ['1500 pause'], 'paused when hidden for pauseAfterMs; the supervisor fails it on the spot');
  assert.match(loop.state.vms.dev!.reason, /pause failed: no QEMU process/);
  clock.tick(1000);
  assert.equal(done, ['1500 pause', '2500 pause'], 'asked again one second later');
  clock.tick(1000);
  assert.equal(done, ['1500 pause', '2500 pause', '3500 pause']);
});

t('events posted while a decision is carried out are decided after it, in order', () => {
  const config = Config.parse({ vms: { dev: { workspace: '1', qemu: ['q'] } } });
  const seen: string[] = [];
  let depth = 0;
  let maxDepth = 0;
  const loop: PolicyLoop = new PolicyLoop(
    initialState(config.policy, [{ name: 'dev', workspace: '1', restart: 'on-failure' }], Date.now()),
    (actions) => {
      depth += 1;
      maxDepth = Math.max(maxDepth, depth);
      for (const action of actions) {
        seen.push(action.type === 'log' ? `log ${action.message}` : action.type);
        // Every decision posts one note while it is carried out: never decided inside it.
        if (action.type === 'log' && action.message === 'first') loop.post({ type: 'note', name: null, message: 'second' });
      }
      depth -= 1;
    },
    () => Date.now(),
  );
  loop.post({ type: 'note', name: null, message: 'first' });
  assert.equal(seen, ['log first', 'log second']);
  assert.is(maxDepth, 1, 'no decision ran inside another');
});

t.run();
