/** The pure policy: start-up and workspaces. Driven by ./driver.ts (fake clock, invariants checked on every decision). */
import * as assert from 'uvu/assert';
import { workspaceMatches } from '../../../daemon/policy/policy.js';
import { T0, DEV, MAIL, ACME, ws, newSuite, Driver, clock } from './driver.js';

const startup = newSuite('policy: start-up and workspaces');

startup('the workspace focused at start-up counts as just focused; the others stay off', () => {
  const d = new Driver([DEV, MAIL, ACME]);
  clock.tick(5000); // the first snapshot may come late: nothing is paused or started for that
  assert.equal(d.startUp('1'), [
    { type: 'start', name: 'dev' },
    { type: 'changed', name: 'dev', state: 'starting', reason: 'workspace 1 focused' },
  ]);
  assert.is(d.wakeAt, null, 'only a start in flight: nothing to wake for');
  assert.equal(d.take(), ['start dev', 'changed dev starting: workspace 1 focused']);
  assert.equal(d.observe('dev', 'running', 'booted'), [{ type: 'changed', name: 'dev', state: 'running', reason: 'booted' }]);
  clock.tick(60_000);
  assert.equal(d.take(), ['changed dev running: booted']);
  assert.is(d.vm('mail').state, 'stopped');
  assert.is(d.vm('acme').state, 'stopped');
  assert.is(d.wakeAt, null);
});

startup('a workspace visible but not focused at start-up is not started', () => {
  const d = new Driver([DEV, MAIL]);
  d.startUp('1', '2');
  assert.equal(d.take(), ['start dev', 'changed dev starting: workspace 1 focused']);
  assert.is(d.vm('mail').state, 'stopped');
});

startup('focus cold-starts a stopped VM; leaving pauses it exactly at pauseAfterMs; focus resumes it', () => {
  const d = new Driver([DEV, MAIL]);
  d.bootFocused('1');
  d.take();
  assert.equal(d.switchTo('2'), [
    { type: 'start', name: 'mail' },
    { type: 'changed', name: 'mail', state: 'starting', reason: 'workspace 2 focused' },
  ]);
  assert.is(d.wakeAt, T0 + 1500, 'dev hidden at 0 → wake at 1500');
  d.observe('mail', 'running');
  d.take();

  clock.tick(1499);
  assert.equal(d.send({ type: 'tick' }), [], 'an early tick (1499 ms) pauses nothing');
  assert.is(d.wakeAt, T0 + 1500);
  clock.tick(1);
  assert.equal(d.takeTimed(), ['1500 pause dev']);
  assert.is(d.wakeAt, T0 + 1500 + 1000, 'pause in flight: the only wake-up is to notice an unanswered command');

  d.observe('dev', 'paused', 'paused after 1.5 s');
  assert.equal(d.take(), ['changed dev paused: paused after 1.5 s']);

  clock.tick(500);
  assert.equal(d.switchTo('1'), [{ type: 'resume', name: 'dev' }]);
  assert.is(d.wakeAt, T0 + 2000 + 1000, 'the resume is watched for an answer');
  d.observe('dev', 'running', 'resumed');
  assert.is(d.wakeAt, T0 + 2000 + 1500, 'now mail is hidden');
  clock.tick(1500);
  assert.equal(d.takeTimed(), ['2000 resume dev', '2000 changed dev running: resumed', '3500 pause mail']);
});

startup('switching back within the delay cancels the pause', () => {
  const d = new Driver([DEV, MAIL]);
  d.bootFocused('1');
  d.switchTo('2');
  d.observe('mail', 'running');
  d.take();
  clock.tick(1000);
  assert.equal(d.switchTo('1'), [], 'dev still running: nothing to do');
  assert.is(d.wakeAt, T0 + 1000 + 1500, 'the pending wake is for mail now');
  clock.tick(20_000);
  assert.equal(d.takeOps(), ['2500 pause mail']);
  assert.is(d.actionsOf('pause').filter((e) => 'name' in e.action && e.action.name === 'dev').length, 0);
});

startup('later snapshots do not restart the delay of a workspace already hidden', () => {
  const d = new Driver([DEV, MAIL, ACME]);
  d.bootFocused('1');
  d.switchTo('2');
  d.observe('mail', 'running');
  d.take();
  clock.tick(1000);
  d.switchTo('3: acme'); // dev is still hidden: counted from 0, not from 1000
  clock.tick(500);
  assert.equal(d.takeOps(), ['1000 start acme', '1500 pause dev']);
});

startup('a workspace visible on another output is not paused', () => {
  const d = new Driver([DEV, MAIL]);
  d.bootFocused('1');
  d.switchTo('2');
  d.observe('mail', 'running');
  d.take();
  d.shows('2', '1'); // 1 is on the other output: the snapshot says so
  assert.is(d.wakeAt, null);
  clock.tick(60_000);
  assert.equal(d.take(), []);
  // Once it really disappears, the delay starts from then.
  d.shows('2');
  clock.tick(1500);
  assert.equal(d.takeTimed(), ['61500 pause dev']);
});

startup('a focus event alone keeps the previous workspace visible until the snapshot', () => {
  // The focus event is acted on at once for the focused VM; who became hidden is
  // only known from the snapshot that follows.
  const d = new Driver([DEV, MAIL]);
  d.bootFocused('1');
  d.focus('2');
  assert.is(d.wakeAt, null);
  clock.tick(5000);
  d.shows('2');
  assert.is(d.wakeAt, T0 + 5000 + 1500);
});

startup('config "2" matches "2: mail" by number; "3: acme" only by exact name', () => {
  assert.ok(workspaceMatches('2', ws('2')));
  assert.ok(workspaceMatches('2', ws('2: mail')));
  assert.not.ok(workspaceMatches('2', ws('12')));
  assert.not.ok(workspaceMatches('2', ws('20: x')));
  assert.not.ok(workspaceMatches('2', ws('mail')));
  assert.ok(workspaceMatches('3: acme', ws('3: acme')));
  assert.not.ok(workspaceMatches('3: acme', ws('3')));
  assert.not.ok(workspaceMatches('3: acme', ws('3: other')));
  assert.not.ok(workspaceMatches('acme', { name: 'acme2', num: null }));

  const d = new Driver([DEV, MAIL, ACME]);
  d.bootFocused('1');
  d.take();
  d.switchTo('2: mail');
  assert.equal(d.take(), ['start mail', 'changed mail starting: workspace 2: mail focused']);
  d.switchTo('3');
  d.switchTo('3: other');
  assert.equal(d.take(), [], 'num 3 is not "3: acme"');
  d.switchTo('3: acme');
  assert.equal(d.take(), ['start acme', 'changed acme starting: workspace 3: acme focused']);
});

startup.run();
