/**
 * The panel's members screen, opened with `i` on a VM: the VM's
 * join request (read through the daemon's API, from the identity the VM
 * published) with a copy action, and — when the network's checkout is here —
 * its members, with admit (paste a request) and remove (asks first). Driven
 * like the wizard: the panel draws `view()` and forwards keys; `result` is
 * set when it is done. Changes go through networks/members.ts and the atomic
 * configs.json writer; a refused one changes nothing and says why.
 */
import fs from 'node:fs';
import path from 'node:path';
import { CONFIGS_FILE, readConfigsFile, writeConfigsFile } from '../networks/write-network.js';
import { checkConfigs, type Configs } from '../networks/configs-schema.js';
import { encodeJoinRequest, parseJoinRequest, type GuestIdentity } from '../networks/join-request.js';
import { admitMember, removeMember } from '../networks/members.js';
import { escapeTags } from './view-model.js';
import type { WizardResult } from './wizard.js';

export interface MembersEnv {
  vm: string;
  /** The network's checkout (with configs.json), when it is on this machine. */
  checkout: string | null;
  identity(vm: string): Promise<GuestIdentity>;
  /** Puts text on the clipboard (the panel: the terminal's OSC 52). */
  copy(text: string): void;
}

type Mode = { kind: 'list' } | { kind: 'admit'; input: string } | { kind: 'confirm-remove'; member: string };

export const MEMBERS_KEYS = 'c copy request  a admit  d remove  ↑↓ select  esc close';

export class MembersScreen {
  request: string | null = null;
  requestError: string | null = null;
  members: Array<{ name: string; address: string; admin: boolean; serves: string[] }> = [];
  cursor = 0;
  mode: Mode = { kind: 'list' };
  message: { text: string; error: boolean } | null = null;
  result: WizardResult | null = null;
  busy = false;

  constructor(private readonly env: MembersEnv) {
    this.#readMembers();
  }

  /** Asks the daemon for the VM's identity (call once after constructing). */
  async load(): Promise<void> {
    try {
      this.request = encodeJoinRequest(await this.env.identity(this.env.vm));
    } catch (error) {
      this.requestError = (error as Error).message;
    }
  }

  get hasCheckout(): boolean {
    return this.env.checkout !== null && fs.existsSync(path.join(this.env.checkout, CONFIGS_FILE));
  }

  #readMembers(): void {
    if (!this.hasCheckout) return;
    try {
      const configs: Configs = checkConfigs(readConfigsFile(this.env.checkout!));
      this.members = Object.values(configs)
        .flatMap((machine) => Object.entries(machine.members))
        .map(([name, m]) => ({ name, address: m.address, admin: m.admin, serves: m.serves }))
        .sort((a, b) => (a.name < b.name ? -1 : 1));
      this.cursor = Math.min(this.cursor, Math.max(0, this.members.length - 1));
    } catch (error) {
      this.message = { text: `cannot read the members: ${(error as Error).message}`, error: true };
    }
  }

  view(): string[] {
    const lines = [`{bold}Members — ${escapeTags(this.env.vm)}{/bold}`, ''];
    lines.push("{bold}This VM's join request{/bold} (send it to the network's admin; only public keys):");
    if (this.request) lines.push(...wrap(this.request, 96));
    else lines.push(this.requestError ? `{red-fg}${escapeTags(this.requestError)}{/red-fg}` : 'asking the VM…');
    lines.push('');
    if (!this.hasCheckout) lines.push(`The network's checkout is not on this machine: its admin admits and removes members.`);
    else {
      lines.push(`{bold}Members{/bold} in ${escapeTags(path.join(this.env.checkout!, CONFIGS_FILE))}:`);
      if (this.members.length === 0) lines.push('  none yet');
      this.members.forEach((m, i) => {
        const line = `${m.name.padEnd(16)} ${m.address.padEnd(40)} ${m.admin ? 'admin ' : ''}${m.serves.length ? `serves ${m.serves.join(', ')}` : ''}`;
        lines.push(i === this.cursor ? `{inverse}> ${escapeTags(line)}{/inverse}` : `  ${escapeTags(line)}`);
      });
    }
    lines.push('');
    if (this.mode.kind === 'admit') lines.push('Paste the join request, then Enter (esc: back):', `> ${escapeTags(this.mode.input.slice(-90))}_`);
    if (this.mode.kind === 'confirm-remove') lines.push(`{bold}Remove ${escapeTags(this.mode.member)}?{/bold} y: remove, n: keep`);
    if (this.message) lines.push(this.message.error ? `{red-fg}${escapeTags(this.message.text)}{/red-fg}` : `{green-fg}${escapeTags(this.message.text)}{/green-fg}`);
    lines.push('', MEMBERS_KEYS);
    return lines;
  }

  async key(name: string, ch?: string): Promise<void> {
    if (this.busy || this.result) return;
    const mode = this.mode;
    switch (mode.kind) {
      case 'admit':
        if (name === 'escape') this.mode = { kind: 'list' };
        else if (name === 'enter' || name === 'return') await this.#run(() => this.#admit(mode.input));
        else if (name === 'backspace') mode.input = mode.input.slice(0, -1);
        else if (ch && ch.length >= 1 && !/[\r\n]/.test(ch)) mode.input += ch;
        return;
      case 'confirm-remove':
        if (name === 'y') await this.#run(() => this.#remove(mode.member));
        else this.mode = { kind: 'list' };
        return;
      case 'list':
        return this.#listKey(name);
      default: {
        const never: never = mode;
        throw new Error(`unknown mode ${String(never)}`);
      }
    }
  }

  #listKey(name: string): void {
    if (name === 'escape' || name === 'q') this.result = { kind: 'cancelled' };
    else if (name === 'up') this.cursor = Math.max(0, this.cursor - 1);
    else if (name === 'down') this.cursor = Math.min(Math.max(0, this.members.length - 1), this.cursor + 1);
    else if (name === 'c') {
      if (!this.request) this.message = { text: 'no join request to copy', error: true };
      else {
        this.env.copy(this.request);
        this.message = { text: 'join request copied', error: false };
      }
    } else if (name === 'a' || name === 'd') {
      if (!this.hasCheckout) this.message = { text: "the network's checkout is not on this machine", error: true };
      else if (name === 'a') this.mode = { kind: 'admit', input: '' };
      else if (this.members[this.cursor]) this.mode = { kind: 'confirm-remove', member: this.members[this.cursor]!.name };
    }
  }

  async #run(change: () => Promise<string>): Promise<void> {
    this.busy = true;
    try {
      this.message = { text: await change(), error: false };
      this.#readMembers();
    } catch (error) {
      this.message = { text: (error as Error).message, error: true };
    } finally {
      this.mode = { kind: 'list' };
      this.busy = false;
    }
  }

  async #admit(line: string): Promise<string> {
    const admitted = admitMember(readConfigsFile(this.env.checkout!), parseJoinRequest(line));
    await writeConfigsFile(this.env.checkout!, admitted.configs);
    return `admitted ${admitted.name} (${admitted.member.address}): commit and push configs.json`;
  }

  async #remove(member: string): Promise<string> {
    const removed = removeMember(readConfigsFile(this.env.checkout!), member);
    await writeConfigsFile(this.env.checkout!, removed.configs);
    return `removed ${member}: commit and push configs.json`;
  }
}

function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  for (let at = 0; at < text.length; at += width) lines.push(`  ${text.slice(at, at + width)}`);
  return lines;
}
