/**
 * The guest agent's part in a backup: its channel is found through QEMU itself
 * (QOM: the virtserialport named org.qemu.guest_agent.0, its chardev, that
 * chardev's socket) — whatever the argv or the NixOS run script called it — and
 * it freezes the guest's filesystems for the instant a backup job starts.
 * Without an agent that answers, the backup is crash-consistent and says so.
 */
import fs from 'node:fs';
import path from 'node:path';
import { AgentClient } from '../../qga/client.js';
import type { QmpClient } from '../../qmp/client.js';
import { errorMessage } from '../../shared/error-message.js';

const AGENT_PORT = 'org.qemu.guest_agent.0';
const QOM_ROOTS = ['/machine/peripheral-anon', '/machine/peripheral'];

/** The unix socket QEMU serves the guest agent's channel on, or null. */
export async function findAgentSocket(qmp: QmpClient, qemuPid: number): Promise<string | null> {
  let label: string | null = null;
  for (const root of QOM_ROOTS) {
    const children = await qmp.execute('qom-list', { path: root }).catch(() => []);
    for (const child of children) {
      if (child.type !== 'child<virtserialport>') continue;
      const device = `${root}/${child.name}`;
      const name = await qmp.execute('qom-get', { path: device, property: 'name' }).catch(() => null);
      if (name !== AGENT_PORT) continue;
      const chardev = await qmp.execute('qom-get', { path: device, property: 'chardev' }).catch(() => null);
      if (typeof chardev === 'string' && chardev !== '') label = chardev;
    }
  }
  if (label === null) return null;
  const chardevs = await qmp.execute('query-chardev');
  const filename = chardevs.find((c) => c.label === label)?.filename;
  // "[disconnected:]unix:PATH,server=on": QEMU prints the path as given (relative to its working directory).
  const match = filename === undefined ? null : /^(?:disconnected:)?unix:(.*?)(,server(=on)?)?(,.*)?$/.exec(filename);
  if (!match?.[1]) return null;
  const socket = match[1];
  if (path.isAbsolute(socket)) return socket;
  try {
    return path.join(fs.readlinkSync(`/proc/${qemuPid}/cwd`), socket);
  } catch {
    return null;
  }
}

export type Consistency = 'frozen' | 'crash-consistent';

/** An agent session for one backup: freeze, then thaw — always, even after a failed freeze. */
export class GuestFreeze {
  #agent: AgentClient | undefined;
  #tried = false;
  /** Why the backup is not frozen (no agent, no answer …), once freeze() has said no. */
  why: string | null = null;

  constructor(private readonly socket: string | null, private readonly timeoutMs = 10_000) {}

  /** Freezes the guest's filesystems; resolves with the consistency the backup will have. */
  async freeze(): Promise<Consistency> {
    if (this.socket === null) {
      this.why = 'no guest agent channel';
      return 'crash-consistent';
    }
    try {
      this.#agent = await AgentClient.connect(this.socket);
      // Left frozen by a daemon that died mid-backup: thaw first, or the freeze is refused.
      if ((await this.#agent.execute('guest-fsfreeze-status', undefined, { timeoutMs: 2000 })) === 'frozen') {
        await this.#agent.execute('guest-fsfreeze-thaw', undefined, { timeoutMs: this.timeoutMs });
      }
      this.#tried = true;
      const count = await this.#agent.execute('guest-fsfreeze-freeze', undefined, { timeoutMs: this.timeoutMs });
      if (count === 0) {
        this.why = 'the guest has no filesystem to freeze';
        return 'crash-consistent';
      }
      return 'frozen';
    } catch (error) {
      this.why = `the guest agent did not freeze: ${errorMessage(error)}`;
      return 'crash-consistent';
    }
  }

  /** Thaws (if a freeze was asked: it may land after a timeout) and closes the channel. Never throws. */
  async thaw(): Promise<string | null> {
    let problem: string | null = null;
    if (this.#agent && this.#tried) {
      try {
        await this.#agent.execute('guest-fsfreeze-thaw', undefined, { timeoutMs: this.timeoutMs });
      } catch (error) {
        problem = `could not thaw the guest's filesystems: ${errorMessage(error)}`;
      }
    }
    this.#agent?.close();
    this.#agent = undefined;
    return problem;
  }
}

/** A daemon that died between freeze and thaw leaves the guest frozen: thaw it (never throws). */
export async function thawIfFrozen(socket: string | null): Promise<boolean> {
  if (socket === null || !fs.existsSync(socket)) return false;
  let agent: AgentClient | undefined;
  try {
    agent = await AgentClient.connect(socket);
    if ((await agent.execute('guest-fsfreeze-status', undefined, { timeoutMs: 2000 })) !== 'frozen') return false;
    await agent.execute('guest-fsfreeze-thaw', undefined, { timeoutMs: 10_000 });
    return true;
  } catch {
    return false;
  } finally {
    agent?.close();
  }
}
