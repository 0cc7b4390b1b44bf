/**
 * The user's verbs (D-Bus Act, key bindings): on a VM, or on the focused
 * workspace's VM when no name is given. Workspace verbs (focus, next, prev) are
 * WM commands; the microphone and clipboard go to the desktop part; every other
 * verb is a question to the policy, whose answer is the reply.
 */
import { Verb, VERBS } from '../api/schema.js';
import { compareWorkspaceNames } from '../config/workspaces.js';
import { errorMessage } from '../shared/error-message.js';
import type { Desktop } from './desktop.js';
import { RequestError } from './errors.js';
import type { PolicyLoop } from './loop.js';
import { vmOnWorkspace } from './policy/policy.js';
import type { WmAdapter } from './wm-adapter.js';
import { workspaceCommand } from './windows.js';

export interface UserVerbsOptions {
  loop: () => PolicyLoop;
  desktop: () => Desktop;
  /** The WM, once attached. */
  wm: () => WmAdapter | undefined;
}

export class UserVerbs {
  constructor(private readonly options: UserVerbsOptions) {}

  /** Returns what will happen; refuses with a RequestError. */
  async act(verbText: string, name: string): Promise<string> {
    const parsed = Verb.safeParse(verbText);
    if (!parsed.success) throw new RequestError('InvalidArgument', `unknown verb "${verbText}" (one of ${VERBS.join(', ')})`);
    const verb = parsed.data;
    if (verb === 'next' || verb === 'prev') return this.#cycle(verb === 'next' ? 1 : -1);
    if (verb === 'clipto' || verb === 'clipfrom') return this.options.desktop().clipboard(verb === 'clipto' ? 'to' : 'from', name || null);
    if (verb === 'micpin' || verb === 'micunpin') return this.options.desktop().microphone(verb === 'micpin' ? 'pin' : 'unpin', name || null);
    const loop = this.options.loop();
    const state = loop.state;
    const target = name || vmOnWorkspace(state, state.focused);
    if (!target) throw new RequestError('InvalidArgument', 'the focused workspace has no VM');
    const vm = state.vms[target];
    if (!vm) throw new RequestError('NoSuchVm', `no VM named "${target}"`);
    if (verb === 'focus') {
      if (!vm.spec.workspace) throw new RequestError('InvalidArgument', `${target} is not bound to a workspace`);
      await this.#wmCommand(workspaceCommand(vm.spec.workspace));
      return `focused workspace ${vm.spec.workspace}`;
    }
    const { answer } = await loop.ask({ type: 'user', verb, name: target });
    if (!answer) return `${target}: ${verb}`;
    if (!answer.ok) throw new RequestError(answer.kind, answer.message);
    return answer.message;
  }

  /** The next (or previous) workspace that has a VM, in workspace order, wrapping around. */
  async #cycle(step: 1 | -1): Promise<string> {
    const state = this.options.loop().state;
    const bound = Object.values(state.vms)
      .filter((vm) => vm.spec.workspace !== null && !vm.removed)
      .sort((a, b) => compareWorkspaceNames(a.spec.workspace!, b.spec.workspace!));
    if (bound.length === 0) throw new RequestError('InvalidArgument', 'no VM is bound to a workspace');
    const current = vmOnWorkspace(state, state.focused);
    const index = bound.findIndex((vm) => vm.spec.name === current);
    const next = bound[(index === -1 ? (step === 1 ? 0 : bound.length - 1) : index + step + bound.length) % bound.length]!;
    await this.#wmCommand(workspaceCommand(next.spec.workspace!));
    return `focused workspace ${next.spec.workspace}`;
  }

  async #wmCommand(command: string): Promise<void> {
    const wm = this.options.wm();
    if (!wm) throw new RequestError('Failed', 'not connected to the WM');
    try {
      await wm.command(command);
    } catch (error) {
      throw new RequestError('Failed', errorMessage(error));
    }
  }
}
