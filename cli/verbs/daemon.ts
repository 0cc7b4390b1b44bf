/** `hiboss daemon`: the arguments; the daemon itself is daemon/main.ts. */
import { defaultConfigPath } from '../../config/file.js';
import { runDaemon } from '../../daemon/main.js';
import { parseArgs, UsageError, type Verb } from '../args.js';

export const daemonVerb: Verb = {
  usage: `usage: hiboss daemon [--config PATH]

Runs in the foreground, like a systemd user service; logs one line per event on stderr.
Binds each configured VM to its workspace: focus the workspace and the VM runs (cold start or
resume); leave it and the VM is paused after policy.pauseAfterMs. Serves org.hiboss.Daemon1 on
the session bus. Stopping the daemon leaves the VMs as they are; the next daemon adopts them.
  --config PATH   default: $XDG_CONFIG_HOME/hiboss/config.json`,
  async run(argv) {
    const { flags, positional } = parseArgs(argv, { valued: ['config'] });
    if (positional.length) throw new UsageError(`unexpected argument "${positional[0]}"`);
    const configPath = (flags.get('config') as string | undefined) ?? defaultConfigPath();
    return runDaemon({ configPath });
  },
};
