/**
 * A member VM's public identity: the file the VM publishes at first
 * boot (networks/join-request.ts GUEST_IDENTITY_PATH), read through its guest
 * agent — found through QEMU itself — size-bounded and schema-parsed.
 */
import { AgentClient } from '../../qga/client.js';
import { AgentError, AgentTimeoutError } from '../../qga/errors.js';
import { GuestFileError, readGuestFile } from '../../qga/read-file.js';
import { GUEST_IDENTITY_PATH, MAX_GUEST_IDENTITY_BYTES, parseGuestIdentity, type GuestIdentity } from '../../networks/join-request.js';
import { findAgentSocket } from '../backup/agent.js';
import type { VmProcess } from './vm-process.js';

export class IdentityUnavailableError extends Error {
  override name = 'IdentityUnavailableError';
}

export async function readIdentity(name: string, vm: VmProcess | undefined, timeoutMs = 5000): Promise<GuestIdentity> {
  if (!vm) throw new IdentityUnavailableError(`${name} is not running: start it (its VM publishes its identity when it boots)`);
  const socket = await findAgentSocket(vm.qmp, vm.pid);
  if (socket === null) throw new IdentityUnavailableError(`${name} has no guest agent channel (virtserialport org.qemu.guest_agent.0): its identity cannot be read`);
  let agent: AgentClient | undefined;
  try {
    agent = await AgentClient.connect(socket);
    const bytes = await readGuestFile(agent, GUEST_IDENTITY_PATH, MAX_GUEST_IDENTITY_BYTES, timeoutMs);
    return parseGuestIdentity(bytes.toString('utf8'));
  } catch (error) {
    if (error instanceof GuestFileError && error.reason === 'missing') {
      throw new IdentityUnavailableError(`${name} has not published its identity (${GUEST_IDENTITY_PATH}) yet: is it a hiboss network VM, and has it finished booting?`);
    }
    if (error instanceof AgentTimeoutError) throw new IdentityUnavailableError(`${name}'s guest agent did not answer within ${timeoutMs} ms (is the VM paused or still booting?)`);
    if (error instanceof AgentError || error instanceof GuestFileError) throw new IdentityUnavailableError(`${name}: ${error.message}`);
    throw error;
  } finally {
    agent?.close();
  }
}
