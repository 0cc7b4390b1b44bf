/**
 * After the machine slept, a guest's clock is behind by the time it was paused:
 * the guest agent's `guest-set-time` sets it to the host's time. The agent's
 * channel is `$XDG_RUNTIME_DIR/hiboss/NAME/qga.sock` (QEMU serves it: flake VMs
 * get it from the launcher; a plain QEMU VM adds the -chardev itself). Without an
 * agent that answers, the clock stays behind and the outcome says so.
 */
import fs from 'node:fs';
import path from 'node:path';
import { AgentClient } from '../../qga/client.js';
import type { VmPaths } from '../../config/paths.js';
import { errorMessage } from '../../shared/error-message.js';

export type ClockOutcome = { ok: true; message: string } | { ok: false; message: string };

export function agentSocketOf(paths: Pick<VmPaths, 'runDir'>): string {
  return path.join(paths.runDir, 'qga.sock');
}

/** Sets the guest's clock to `nowMs` (the host's time); never throws. */
export async function correctGuestClock(paths: Pick<VmPaths, 'runDir'>, nowMs: () => number, timeoutMs = 3000): Promise<ClockOutcome> {
  const socket = agentSocketOf(paths);
  if (!fs.existsSync(socket)) {
    return { ok: false, message: `guest clock not corrected: no guest agent channel (${socket}); it is behind by the time the machine slept` };
  }
  let agent: AgentClient | undefined;
  try {
    agent = await AgentClient.connect(socket);
    await agent.execute('guest-set-time', { time: Math.round(nowMs()) * 1_000_000 }, { timeoutMs });
    return { ok: true, message: 'guest clock set to the host\'s time (guest agent)' };
  } catch (error) {
    return { ok: false, message: `guest clock not corrected: ${errorMessage(error)}` };
  } finally {
    agent?.close();
  }
}
