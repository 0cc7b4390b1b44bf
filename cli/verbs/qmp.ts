import { QmpClient } from '../../qmp/client.js';
import { QmpCommandError, QmpError } from '../../qmp/errors.js';
import { integerFlag, parseArgs, UsageError, type Verb } from '../args.js';
import { errorMessage } from '../../shared/error-message.js';

const usage = `usage: hiboss qmp SOCKET COMMAND [ARGS_JSON] [--timeout MS]

Runs one QMP command on QEMU's QMP socket and prints its "return" as JSON
(a scriptable qmp-shell). Exits 1 on a QMP error, with its class and
description on stderr. human-monitor-command failures ("Error: …") count as errors.
QEMU serves one client per QMP socket: the sockets of VMs the daemon runs are taken
(use hiboss status / hiboss vm for those); this is for QEMUs started by hand.
  e.g. hiboss qmp ./qmp.sock query-status
       hiboss qmp ./qmp.sock human-monitor-command '{"command-line":"info status"}'`;

const MAX_ARGS_BYTES = 1024 * 1024;

export const qmpVerb: Verb = {
  usage,
  async run(argv) {
    const { flags, positional } = parseArgs(argv, { valued: ['timeout'], positionals: 'checked-by-verb' });
    const [socket, command, argsJson, extra] = positional;
    if (!socket || !command) throw new UsageError('needs SOCKET and COMMAND');
    if (extra !== undefined) throw new UsageError(`unexpected argument "${extra}"`);
    let args: Record<string, unknown> | undefined;
    if (argsJson !== undefined) {
      if (argsJson.length > MAX_ARGS_BYTES) throw new UsageError('ARGS_JSON is too large');
      try {
        args = JSON.parse(argsJson);
      } catch (error) {
        throw new UsageError(`ARGS_JSON is not JSON: ${errorMessage(error)}`);
      }
      if (typeof args !== 'object' || args === null || Array.isArray(args)) throw new UsageError('ARGS_JSON must be a JSON object');
    }
    const timeoutMs = integerFlag(flags, 'timeout', 30_000, 1, 3_600_000);
    let client: QmpClient | undefined;
    try {
      client = await QmpClient.connect(socket, { commandTimeoutMs: timeoutMs });
      const result = await client.executeRaw(command, args);
      console.log(JSON.stringify(result ?? null));
      return 0;
    } catch (error) {
      if (error instanceof QmpCommandError) {
        console.error(`${error.errorClass}: ${error.desc}`);
        return 1;
      }
      if (error instanceof QmpError) {
        console.error(`hiboss qmp: ${error.message}`);
        return 1;
      }
      throw error;
    } finally {
      client?.close();
    }
  },
};
