/**
 * The pure policy's share of a switch: CPU per spaced switch of `decide` alone,
 * with 20 VMs, driven the way the daemon drives it (sway's snapshot of the new
 * focus, the resume's reply and RESUME, the pause due, the STOP and the pause's
 * reply: six decisions). No sockets, no timers: what the policy costs, apart
 * from everything the daemon reads and writes around it.
 *
 *   npm run build && node --no-opt --max-semi-space-size=2 --optimize-for-size dist/bench/policy-cost.js
 *   (the daemon's flags, from bin/hiboss's first line; without them: with TurboFan)
 */
import { PolicyConfig } from '../config/schema.js';
import { decide, initialState, type PolicyEvent, type PolicyState, type WorkspaceRef } from '../daemon/policy/policy.js';

const VMS = 20;
const SWITCHES = 4000;
const settings = PolicyConfig.parse({ pauseAfterMs: 100, powerdownTimeoutMs: 500 });
const specs = Array.from({ length: VMS }, (_, i) => ({ name: `vm${i + 1}`, workspace: String(i + 1), restart: 'never' as const }));
let now = 1_000_000;
let state: PolicyState = initialState(settings, specs, now);
const workspace = (n: number): WorkspaceRef => ({ name: String(n), num: n });
const told: string[] = [];
const decideOne = (event: PolicyEvent) => {
  const decision = decide(state, event, now);
  state = decision.state;
  return decision;
};

// Every VM started once and paused when hidden, as after the bench's cold starts.
for (let n = 1; n <= VMS; n++) {
  decideOne({ type: 'workspaces', focused: workspace(n), visible: [workspace(n)] });
  now += 10;
  decideOne({ type: 'observed', name: `vm${n}`, state: 'running' });
  now += 200;
  for (const action of decideOne({ type: 'tick' }).actions) {
    if (action.type !== 'pause') continue;
    decideOne({ type: 'observed', name: action.name, state: 'paused' });
    decideOne({ type: 'op-done', name: action.name, op: 'pause' });
  }
}

function spacedSwitch(n: number, record: boolean): void {
  const previous = n === 1 ? VMS : n - 1;
  const events: [PolicyEvent, number][] = [
    [{ type: 'workspaces', focused: workspace(n), visible: [workspace(n)] }, 1],
    [{ type: 'observed', name: `vm${n}`, state: 'running' }, 0],
    [{ type: 'op-done', name: `vm${n}`, op: 'resume' }, settings.pauseAfterMs + 1],
    [{ type: 'tick' }, 0],
    [{ type: 'observed', name: `vm${previous}`, state: 'paused' }, 0],
    [{ type: 'op-done', name: `vm${previous}`, op: 'pause' }, 30],
  ];
  for (const [event, after] of events) {
    const { actions } = decideOne(event);
    if (record) told.push(`${event.type} → ${actions.map((a) => a.type).join(', ') || 'nothing'}`);
    now += after;
  }
}

for (let i = 0; i < 400; i++) spacedSwitch((i % VMS) + 1, false); // warm, as a daemon is after its first blocks
spacedSwitch(1, true);
const before = process.cpuUsage();
for (let i = 0; i < SWITCHES; i++) spacedSwitch((i % VMS) + 1, false);
const used = process.cpuUsage(before);
console.log(`one switch: ${told.join('; ')}`);
console.log(`policy CPU per spaced switch, ${VMS} VMs: ${((used.user + used.system) / 1000 / SWITCHES).toFixed(3)} ms (node ${process.execArgv.join(' ') || 'with no flags'})`);
