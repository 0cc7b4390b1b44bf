/**
 * The window manager, as the policy sees it: workspace events become `focus`
 * (at once: the focused VM's `cont` is written in the event's own tick) and
 * `workspaces` snapshots (one GET_WORKSPACES per burst of events, after the
 * `cont`); key bindings become requests; VM windows are placed; the session's
 * end is reported.
 *
 * What each output shows is kept from the last snapshot. A focus event that names
 * its output (sway's do; i3's do not) then tells the whole picture by itself — the
 * focused workspace replaces what its output showed, the other outputs keep
 * theirs — and is posted as a snapshot at once: no GET_WORKSPACES round trip and
 * no second decision per switch. Any event that may change the picture otherwise
 * (a move, a rename, an output change, a reconnection) asks sway again.
 */
import type { WmClient } from '../wm-ipc/client.js';
import type { Node, Workspace, WorkspaceNode } from '../wm-ipc/protocol.js';
import type { WorkspaceRef } from '../config/workspaces.js';
import type { SwitchMarks } from './diagnostics.js';
import type { PolicyEvent } from './policy/policy.js';
import { placeWindowCommands, windowToPlace, type VmWindowInfo } from './windows.js';
import { errorMessage } from '../shared/error-message.js';
import { DaemonError } from './errors.js';

export interface WmAdapterOptions {
  wm: WmClient;
  post: (event: PolicyEvent) => void;
  /** A key binding's request (`nop hiboss VERB [NAME]`). */
  act: (verb: string, name: string) => Promise<string>;
  /** The VMs whose windows may appear, with their QEMU's pid. */
  windows: () => VmWindowInfo[];
  marks: SwitchMarks;
  /** The daemon is stopping: the WM going away is not the session ending. */
  stopping: () => boolean;
}

const BINDING = /^nop hiboss ([a-z]+)(?: ([A-Za-z0-9_-]{1,32}))?\s*$/;

export class WmAdapter {
  kind: 'sway' | 'i3' = 'i3';
  /** Windows placed already (container ids): placed once, never moved back by a later title. */
  readonly #placed = new Set<number>();
  #snapshotWanted = false;
  #snapshotRunning = false;
  /** Output → the workspace it shows, as of the last snapshot and the focus events since; null: unknown. */
  #shown: Map<string, WorkspaceRef> | null = null;

  constructor(private readonly options: WmAdapterOptions) {}

  get wm(): WmClient {
    return this.options.wm;
  }

  async attach(): Promise<string> {
    const { wm, post } = this.options;
    const version = await wm.getVersion();
    this.kind = (version as { variant?: string }).variant === 'sway' || /sway/.test(version.human_readable) ? 'sway' : 'i3';
    wm.on('workspace', (event) => {
      if (event.change === 'focus' && event.current) {
        this.options.marks.eventArrived(wm.lastEventReceivedAt);
        const shown = this.#shown;
        const output = event.current.output;
        if (shown && output !== undefined) {
          const workspace = refOf(event.current);
          shown.set(output, workspace);
          post({ type: 'workspaces', focused: workspace, visible: [...shown.values()] });
          this.options.marks.settled();
          return;
        }
        post({ type: 'focus', workspace: refOf(event.current) });
        this.options.marks.settled();
      }
      // Memory: a workspace being created is about to be shown: its VM may be prewarmed.
      // After the burst: sway sends `init` just before the `focus` of the same switch, whose `cont`
      // must not wait for a decision about prewarming.
      if (event.change === 'init' && event.current) {
        const workspace = refOf(event.current);
        setImmediate(() => post({ type: 'workspace-init', workspace }));
      }
      if (this.#shown && unseen(event.change, event.current?.name, this.#shown)) return;
      this.#wantSnapshot();
    });
    wm.on('output', () => this.#wantSnapshot());
    wm.on('window', (event) => {
      if (event.change === 'close') {
        this.#placed.delete(event.container.id);
        return;
      }
      // On `new`, or on the first `title` that names a VM (sway sends the title after `new`).
      const vm = windowToPlace(event.change, event.container, this.options.windows(), this.#placed);
      if (vm) void this.#placeWindow(event.container, vm);
    });
    wm.on('binding', (event) => {
      const match = BINDING.exec(event.binding.command.trim());
      if (!match) return;
      const key = event.binding.symbol ?? '';
      this.options.act(match[1]!, match[2] ?? '').then(
        (done) => post({ type: 'note', name: null, message: `key ${key}: ${done}` }),
        (error: Error) => post({ type: 'note', name: null, level: 'warn', message: `key binding "${event.binding.command}": ${error.message}` }),
      );
    });
    wm.on('disconnected', (error) => post({ type: 'note', name: null, level: 'warn', message: `lost the WM: ${error.message}; reconnecting` }));
    wm.on('reconnected', () => {
      post({ type: 'note', name: null, message: 'reconnected to the WM' });
      this.#wantSnapshot();
    });
    wm.on('protocol-error', (error) => post({ type: 'note', name: null, level: 'warn', message: error.message }));
    wm.on('end', () => {
      if (!this.options.stopping()) post({ type: 'session-end' });
    });
    // sway 1.7 refuses `output` events; its output changes come as workspace events.
    await wm.subscribe(this.kind === 'i3' ? ['workspace', 'output', 'window', 'binding'] : ['workspace', 'window', 'binding']);
    await this.#snapshot();
    return `connected to ${this.kind} ${version.human_readable} at ${wm.socketPath}`;
  }

  /** Runs a WM command (focus a workspace); fails when the WM is gone. */
  async command(command: string): Promise<void> {
    if (this.options.wm.ended) throw new DaemonError('not connected to the WM');
    await this.options.wm.command(command);
  }

  /** After the events of this burst, one snapshot; another only if events came while it was asked. */
  #wantSnapshot(): void {
    this.#shown = null; // until the snapshot says, a focus event alone does not tell what is shown
    this.#snapshotWanted = true;
    if (this.#snapshotRunning) return;
    this.#snapshotRunning = true;
    setImmediate(() => void this.#snapshots());
  }

  async #snapshots(): Promise<void> {
    try {
      while (this.#snapshotWanted) {
        this.#snapshotWanted = false;
        await this.#snapshot();
      }
    } finally {
      this.#snapshotRunning = false;
    }
  }

  async #snapshot(): Promise<void> {
    const { wm, post } = this.options;
    if (wm.ended) return;
    let workspaces: Workspace[];
    try {
      workspaces = await wm.getWorkspaces();
    } catch (error) {
      post({ type: 'note', name: null, level: 'warn', message: `cannot list workspaces: ${errorMessage(error)}` });
      return;
    }
    const focused = workspaces.find((w) => w.focused);
    // Events that came while it was asked leave #shown unknown: another snapshot follows them.
    if (!this.#snapshotWanted) this.#shown = new Map(workspaces.filter((w) => w.visible).map((w) => [w.output, refOf(w)]));
    // The reply can tell of a new focus before its event is read (two sockets): its `cont` counts from here.
    this.options.marks.eventArrived(performance.now());
    post({ type: 'workspaces', focused: focused ? refOf(focused) : null, visible: workspaces.filter((w) => w.visible).map(refOf) });
    this.options.marks.settled();
  }

  async #placeWindow(container: Node, vm: VmWindowInfo): Promise<void> {
    if (this.options.wm.ended) return;
    // Marked before the command goes out: a `title` right after `new` must not place it twice.
    this.#placed.add(container.id);
    const post = this.options.post;
    try {
      await this.options.wm.command(placeWindowCommands(container, vm));
      post({ type: 'note', name: vm.name, message: `window ${container.id} placed on workspace ${vm.workspace ?? '(none)'}` });
    } catch (error) {
      post({ type: 'note', name: vm.name, level: 'warn', message: `cannot place window: ${errorMessage(error)}` });
    }
  }
}

function refOf(workspace: Workspace | WorkspaceNode): WorkspaceRef {
  return { name: workspace.name, num: typeof workspace.num === 'number' && workspace.num >= 0 ? workspace.num : null };
}

/**
 * A workspace event that changes nothing of what the outputs show: a workspace
 * made (it is shown by the focus event that follows), one emptied and gone
 * that no output shows, an urgency hint.
 */
function unseen(change: string, name: string | undefined, shown: Map<string, WorkspaceRef>): boolean {
  if (change === 'init' || change === 'urgent') return true;
  if (change === 'empty') return name !== undefined && ![...shown.values()].some((w) => w.name === name);
  return false;
}
