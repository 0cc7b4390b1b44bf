/**
 * The host's sleep and lock, as the policy sees them (pure, like the rest of the policy):
 * logind says the machine is about to sleep → every running VM is paused, and the
 * sleep delay lock is released once they are (or when logind's delay runs out);
 * it woke → the usual rules apply again (the focused workspace's VM resumes) and
 * each VM that slept has its guest clock corrected when it next runs. With
 * `pauseOnLock`, a locked session pauses VMs the same way until it is unlocked.
 */
import { isDown as stateIsDown, unhandled, type Action, type HostEvent, type HostState, type PolicySettings, type VmRecord } from './types.js';

export const HOST_AWAKE: HostState = { asleep: false, locked: false, sleepLockDeadline: null, clockStale: [] };

type Log = (message: string, level?: 'info' | 'warn') => void;

function isDown(vm: VmRecord): boolean {
  return stateIsDown(vm.state);
}

/** While this holds, every VM is to be paused (what the user asked for waits). */
export function hostPausesVms(host: HostState, settings: PolicySettings): boolean {
  return host.asleep || (host.locked && settings.pauseOnLock);
}

function withStale(host: HostState, vms: VmRecord[]): string[] {
  const stale = new Set(host.clockStale);
  for (const vm of vms) if (!isDown(vm)) stale.add(vm.spec.name);
  return [...stale];
}

/** The host event applied: a new HostState (never the one given) and what to do at once. */
export function applyHostEvent(host: HostState, event: HostEvent, vms: VmRecord[], settings: PolicySettings, now: number, log: Log): { host: HostState; actions: Action[] } {
  const actions: Action[] = [];
  switch (event.type) {
    case 'sleep':
      log(`the machine is going to sleep: pausing VMs (logind waits ${Math.round(event.releaseWithinMs / 100) / 10} s at most)`);
      return { host: { ...host, asleep: true, sleepLockDeadline: now + event.releaseWithinMs, clockStale: withStale(host, vms) }, actions };
    case 'wake':
      if (host.sleepLockDeadline !== null) actions.push({ type: 'release-sleep-lock' }); // a sleep called off before we were done
      log(host.locked && settings.pauseOnLock ? 'the machine woke up; the session is locked: VMs stay paused' : 'the machine woke up');
      return { host: { ...host, asleep: false, sleepLockDeadline: null }, actions };
    case 'lock':
      if (host.locked) return { host, actions };
      log(settings.pauseOnLock ? 'the session is locked: pausing VMs' : 'the session is locked (pauseOnLock is off: VMs run on)');
      return { host: { ...host, locked: true, clockStale: settings.pauseOnLock ? withStale(host, vms) : host.clockStale }, actions };
    case 'unlock':
      if (!host.locked) return { host, actions };
      log('the session is unlocked');
      return { host: { ...host, locked: false }, actions };
    default:
      return unhandled(event);
  }
}

/**
 * After every VM is reconciled: the sleep lock released once nothing runs any more
 * (or at the deadline, saying what still ran), and a clock correction for each VM
 * that slept and runs again.
 */
export function afterReconcile(host: HostState, vms: Record<string, VmRecord>, settings: PolicySettings, now: number, log: Log): { host: HostState; actions: Action[] } {
  const actions: Action[] = [];
  let next = host;
  if (host.sleepLockDeadline !== null) {
    const stillRunning = Object.values(vms).filter((vm) => vm.state === 'running' || vm.op === 'pause').map((vm) => vm.spec.name);
    if (stillRunning.length === 0 || now >= host.sleepLockDeadline) {
      if (stillRunning.length === 0) log('every VM is paused: the machine may sleep');
      else log(`not paused within logind's delay: ${stillRunning.join(', ')}; the machine sleeps anyway`, 'warn');
      actions.push({ type: 'release-sleep-lock' });
      next = { ...next, sleepLockDeadline: null };
    }
  }
  if (!hostPausesVms(next, settings) && next.clockStale.length > 0) {
    // Running and settled: a pause still in flight (a sleep called off) comes back first.
    const running = next.clockStale.filter((name) => vms[name]?.state === 'running' && vms[name]?.op === null);
    const gone = next.clockStale.filter((name) => !vms[name] || isDown(vms[name]));
    for (const name of running) actions.push({ type: 'sync-clock', name });
    if (running.length || gone.length) next = { ...next, clockStale: next.clockStale.filter((name) => !running.includes(name) && !gone.includes(name)) };
  }
  return { host: next, actions };
}
