import { DaemonCallError } from '../../api/client.js';
import { connectToDaemon } from '../daemon-connection.js';
import { VmName } from '../../config/schema.js';
import { integerFlag, parseArgs, UsageError, type Verb } from '../args.js';

const ACTIONS = ['start', 'stop', 'pause', 'resume', 'restart', 'hibernate', 'prewarm'] as const;
type VmAction = (typeof ACTIONS)[number];
/** A save that failed leaves the VM paused in RAM with this reason (daemon/policy/memory.ts). */
const SAVE_FAILED = /^could not save to disk/;

/** The states each action is finished in. */
const DONE: Record<VmAction, string[]> = {
  start: ['running', 'paused', 'failed'],
  resume: ['running', 'failed'],
  restart: ['running', 'failed'],
  pause: ['paused', 'failed', 'stopped'],
  stop: ['stopped', 'failed'],
  // Memory: a save that fails leaves it paused (the reason says why).
  hibernate: ['hibernated', 'paused', 'failed', 'stopped'],
  prewarm: ['paused', 'running', 'stopped', 'failed'],
};

export const vmVerb: Verb = {
  usage: `usage: hiboss vm start|stop|pause|resume|restart|hibernate|prewarm NAME [--no-wait] [--timeout MS]

Asks the daemon to act on VM NAME and waits until it is done (or failed).
A VM paused or stopped by hand stays so when its workspace is focused, until resumed/started.
hibernate saves its RAM to disk and ends its QEMU (held like a pause); prewarm restores a
hibernated VM without running it.`,
  async run(argv) {
    const { flags, positional } = parseArgs(argv, { boolean: ['no-wait'], valued: ['timeout'] });
    const [action, name, extra] = positional;
    if (!action || !(ACTIONS as readonly string[]).includes(action)) {
      throw new UsageError(`needs an action: ${ACTIONS.join(', ')}`);
    }
    if (!name) throw new UsageError('needs a VM name');
    if (extra !== undefined) throw new UsageError(`unexpected argument "${extra}"`);
    if (!VmName.safeParse(name).success) throw new UsageError(`invalid VM name "${name}" (1–32 of A–Z a–z 0–9 _ -)`);
    const timeoutMs = integerFlag(flags, 'timeout', 120_000, 1, 3_600_000);
    const client = await connectToDaemon();
    try {
      const verb = action as VmAction;
      const done = flags.has('no-wait')
        ? undefined
        : client.waitForState(name, (c) => DONE[verb].includes(c.state) && !(verb === 'restart' && c.reason === 'restarting') && !(verb === 'hibernate' && c.state === 'paused' && !SAVE_FAILED.test(c.reason)), timeoutMs);
      done?.catch(() => {});
      const before = (await client.status()).vms.find((vm) => vm.name === name);
      if (verb === 'hibernate' || verb === 'prewarm') await client.act(verb, name);
      else await client[verb](name);
      const alreadyThere = before !== undefined && DONE[verb].includes(before.state) && verb !== 'restart' && (verb !== 'hibernate' || before.state === 'hibernated') && (verb !== 'prewarm' || before.state !== 'hibernated');
      if (done && !alreadyThere) {
        const change = await done;
        console.log(`${name}: ${change.state} (${change.reason})`);
        return change.state === 'failed' || (verb === 'hibernate' && change.state !== 'hibernated') ? 1 : 0;
      }
      const after = (await client.status()).vms.find((vm) => vm.name === name);
      console.log(`${name}: ${after?.state ?? 'unknown'} (${after?.reason ?? ''})`);
      return 0;
    } catch (error) {
      if (error instanceof DaemonCallError) {
        console.error(`hiboss vm ${action}: ${error.message}`);
        return 1;
      }
      throw error;
    } finally {
      client.close();
    }
  },
};
