/**
 * The panel: the daemon's state, kept current by its D-Bus signals (no
 * polling), drawn into the layout; keys handed to panel/keys.ts. Everything goes
 * through the daemon's API (PanelClient) and, for edits, the config file the
 * daemon is then told to re-read.
 */
import fs from 'node:fs';
import path from 'node:path';
import type blessed from 'blessed';
import type { StateChange } from '../api/client.js';
import type { DaemonStatus, GenerationsReport } from '../api/schema.js';
import type { PanelClient } from './actions.js';
import { backupLines } from './backup-view.js';
import { appendLogLine, createLayout, showLog, type Layout } from './screens/layout.js';
import { memoryLines } from './memory-view.js';
import {
  DAEMON_DOWN_TEXT,
  KEY_HELP,
  appendLog,
  applyFocus,
  applyStateChange,
  detailLines,
  generationLines,
  escapeTags,
  networkDetailLines,
  treeRows,
  type TreeRow,
} from './view-model.js';
import { Wizard, type WizardEnv } from './wizard.js';
import { errorMessage } from '../shared/error-message.js';
import { MembersScreen } from './members.js';
import { MarketScreen, type MarketEnv } from './market.js';
import { mainKey, modalKey, type Key, type KeyHost } from './keys.js';
import { modalText, type Modal } from './modal.js';

export interface PanelOptions {
  screen: blessed.Widgets.Screen;
  client: PanelClient;
  configFile: string;
  networksDir: string;
  /** Called on q / C-c. */
  onQuit: () => void;
  /** The Market tab's catalogues, mirrors and join (panel/market-env.ts); absent: no Market tab. */
  market?: MarketEnv;
  now?: () => number;
}

export class Panel {
  readonly layout: Layout;
  status: DaemonStatus | null = null;
  #fetchedAt = 0;
  #rows: TreeRow[] = [];
  /** Selection by identity (VM name or network label), so re-renders keep it. */
  #selectedKey: string | null = null;
  #logs = new Map<string, string[]>();
  /** Flake VMs' generations, asked for when one is selected and after each UpdateEvent. */
  #generations = new Map<string, GenerationsReport>();
  #message: { text: string; error: boolean } | null = null;
  #modal: Modal | null = null;
  #refreshSeq = 0;
  #refreshQueued = false;
  #rendering = false;
  #renderQueued = false;
  #disposers: Array<() => void> = [];
  readonly #now: () => number;

  constructor(private readonly options: PanelOptions) {
    this.#now = options.now ?? Date.now;
    this.layout = createLayout(options.screen);
    this.#bindClient();
    this.#bindKeys();
  }

  /** Draws, and fetches the status if the daemon is there (else waits for `up`). */
  async start(): Promise<void> {
    this.render();
    if (this.options.client.available) await this.refresh();
  }

  get selectedRow(): TreeRow | undefined {
    return this.#rows[(this.layout.tree as unknown as { selected: number }).selected];
  }

  get modal(): Modal | null {
    return this.#modal;
  }

  dispose(): void {
    for (const dispose of this.#disposers) dispose();
    this.#disposers = [];
  }

  // ---- data ---------------------------------------------------------------------

  #bindClient(): void {
    const client = this.options.client;
    const on = <E extends Parameters<PanelClient['on']>[0]>(event: E, listener: (...args: never[]) => void) => {
      client.on(event, listener as never);
      this.#disposers.push(() => client.off(event, listener as never));
    };
    on('up', () => {
      this.#say('daemon is up');
      void this.refresh();
    });
    on('down', () => {
      this.status = null;
      this.#say('the daemon went away; waiting for it', true);
      this.render();
    });
    on('state', (change: StateChange) => {
      if (this.status) this.status = applyStateChange(this.status, change);
      // A state change is a log line too; the daemon sends it once, as StateChanged.
      this.#logLine(change.name, `${change.state}: ${change.reason}`);
      this.render();
      // The signal carries state and reason; pid, uptime, timings come with Status().
      this.#queueRefresh();
    });
    on('focus', (focus: { workspace: string; vm: string }) => {
      if (this.status) this.status = applyFocus(this.status, focus);
      this.render();
    });
    on('config', (change: { accepted: boolean; problems: string[] }) => {
      if (!change.accepted) this.#say(`config refused: ${change.problems.join('; ')}`, true);
      void this.refresh();
    });
    on('log', ({ name, line }: { name: string; line: string }) => this.#logLine(name, line));
    on('update', ({ name }: { name: string }) => void this.#loadGenerations(name));
    // Backups: started, done, failed, unbacked, restored — Status() has the details.
    on('backup', () => this.#queueRefresh());
    // Sound: who hears the member is all the signal says, and all that changed.
    on('microphone', (microphone: { vm: string | null; pinned: boolean }) => {
      if (this.status) this.status = { ...this.status, microphone };
      this.render();
    });
  }

  #logLine(name: string, line: string): void {
    this.#logs.set(name, appendLog(this.#logs.get(name) ?? [], line));
    const row = this.selectedRow;
    if (row?.kind === 'vm' && row.vm.name === name && !this.#modal) {
      appendLogLine(this.layout.log, line);
      this.options.screen.render();
    }
  }

  /** Several signals in a row need one Status() call, not one each. */
  #queueRefresh(): void {
    if (this.#refreshQueued) return;
    this.#refreshQueued = true;
    queueMicrotask(() => {
      this.#refreshQueued = false;
      void this.refresh();
    });
  }

  async refresh(): Promise<void> {
    const seq = ++this.#refreshSeq;
    try {
      const status = await this.options.client.status();
      if (seq !== this.#refreshSeq) return; // a newer answer is on its way
      const before = this.selectedRow;
      this.status = status;
      this.#fetchedAt = this.#now();
      this.render();
      const after = this.selectedRow;
      if (after?.kind === 'vm' && (before?.kind !== 'vm' || before.vm.name !== after.vm.name || !this.#logs.has(after.vm.name))) {
        void this.#loadLog(after.vm.name);
      }
    } catch (error) {
      if (seq !== this.#refreshSeq) return;
      if (!this.options.client.available) this.status = null;
      else this.#say(`Status() failed: ${errorMessage(error)}`, true);
      this.render();
    }
  }

  async #loadLog(name: string): Promise<void> {
    try {
      const lines = await this.options.client.log(name, 200);
      this.#logs.set(name, lines.slice(-500));
    } catch (error) {
      this.#logs.set(name, [`(no log: ${errorMessage(error)})`]);
    }
    const row = this.selectedRow;
    if (row?.kind === 'vm' && row.vm.name === name) {
      showLog(this.layout.log, this.#logs.get(name) ?? []);
      this.options.screen.render();
    }
  }

  // ---- drawing ------------------------------------------------------------------

  render(): void {
    // setItems()/select() emit "select item": that is us drawing, not the user choosing.
    this.#rendering = true;
    try {
      this.#draw();
    } finally {
      this.#rendering = false;
    }
  }

  #draw(): void {
    const { tree, detail, log, status, screen, modal } = this.layout;
    const up = this.options.client.available && this.status !== null;
    if (!up) {
      this.#rows = [];
      tree.setItems(['{red-fg}⚠ daemon not running{/red-fg}']);
      detail.setContent(this.options.client.available ? 'asking the daemon for its status…' : DAEMON_DOWN_TEXT);
    } else {
      this.#rows = treeRows(this.status!, this.options.networksDir);
      tree.setItems(this.#rows.map((row) => row.text));
      const index = this.#rows.findIndex((row) => rowKey(row) === this.#selectedKey);
      const firstVm = this.#rows.findIndex((row) => row.kind === 'vm');
      tree.select(index !== -1 ? index : Math.max(firstVm, 0));
      const row = this.selectedRow;
      this.#selectedKey = row ? rowKey(row) : null;
      if (!row) detail.setContent('No VMs configured yet. Press n to create a network, or hiboss join URI.');
      else if (row.kind === 'vm') detail.setContent([...detailLines(row.vm, this.#now() - this.#fetchedAt), ...memoryLines(row.vm, this.status!), ...generationLines(row.vm, this.#generations.get(row.vm.name)), ...backupLines(row.vm, this.#now()), ''].join('\n')); // '': blessed's bordered scroll box hides its last line
      else detail.setContent(networkDetailLines(row.network).join('\n'));
      if (row?.kind !== 'vm') showLog(log, []);
    }
    const message = this.#message ? `${this.#message.error ? '{red-fg}' : '{green-fg}'}${escapeTags(this.#message.text)}${this.#message.error ? '{/red-fg}' : '{/green-fg}'}` : '';
    const focus = this.status?.focusedWorkspace ? `workspace ${escapeTags(this.status.focusedWorkspace)}${message ? ' | ' : ''}` : '';
    status.setContent(`${focus}${message}\n{bold}${KEY_HELP}{/bold}`);
    if (this.#modal) {
      modal.setContent(modalText(this.#modal));
      modal.show();
      modal.setFront();
    } else modal.hide();
    screen.render();
  }

  #say(text: string, error = false): void {
    this.#message = { text, error };
    this.render();
  }

  // ---- keys ---------------------------------------------------------------------

  #bindKeys(): void {
    const { screen, tree, modal } = this.layout;
    tree.on('select item', () => this.#selectionChanged());
    // `select item` fires for programmatic selects too; arrow keys land here as well.
    tree.on('keypress', (_ch: string, key: { name?: string }) => {
      if (key.name === 'up' || key.name === 'down' || key.name === 'home' || key.name === 'end') queueMicrotask(() => this.#selectionChanged());
    });
    tree.on('click', () => queueMicrotask(() => this.#selectionChanged()));
    const host = this.#keyHost();
    screen.on('keypress', (ch: string | undefined, key: Key) => {
      if (this.#modal) void modalKey(host, ch, key);
      else void mainKey(host, ch, key);
    });
    modal.on('click', () => undefined);
  }

  /** What a key may touch (panel/keys.ts). */
  #keyHost(): KeyHost {
    const panel = this;
    const { client, configFile, screen, onQuit } = this.options;
    return {
      client,
      configFile,
      screen,
      layout: this.layout,
      get status() {
        return panel.status;
      },
      get selectedRow() {
        return panel.selectedRow;
      },
      get modal() {
        return panel.#modal;
      },
      set modal(modal) {
        panel.#modal = modal;
      },
      quit: onQuit,
      say: (text, error) => this.#say(text, error),
      render: () => this.render(),
      renderSoon: () => this.#renderSoon(),
      refresh: () => this.refresh(),
      openWizard: (editName, localDir) => this.openWizard(editName, localDir),
      openMarket: () => this.openMarket(),
      openMembers: (vm, checkout) => this.openMembers(vm, checkout),
    };
  }

  #selectionChanged(): void {
    if (this.#rendering) return;
    const row = this.selectedRow;
    const key = row ? rowKey(row) : null;
    if (key === this.#selectedKey) return;
    this.#selectedKey = key;
    this.render();
    if (row?.kind === 'vm') {
      showLog(this.layout.log, this.#logs.get(row.vm.name) ?? []);
      this.options.screen.render();
      void this.#loadLog(row.vm.name);
      if (row.vm.kind === 'flake') void this.#loadGenerations(row.vm.name);
    }
  }

  async #loadGenerations(name: string): Promise<void> {
    try {
      this.#generations.set(name, await this.options.client.generations(name));
    } catch {
      this.#generations.delete(name); // shown as "…" until the next try
    }
    this.render();
  }

  #renderSoon(): void {
    if (this.#renderQueued) return;
    this.#renderQueued = true;
    setImmediate(() => {
      this.#renderQueued = false;
      this.render();
    });
  }

  wizardEnv(): WizardEnv {
    return {
      networksDir: this.options.networksDir,
      configFile: this.options.configFile,
      reload: async () => {
        if (!this.options.client.available) throw new Error('the daemon is not running');
        return this.options.client.reload();
      },
    };
  }

  /** Members: the VM's join request and, with the network's checkout here, admit/remove. */
  async openMembers(vm: string, checkout: string | null): Promise<void> {
    const screen = this.options.screen as blessed.Widgets.Screen & { copyToClipboard(text: string): boolean };
    const members = new MembersScreen({ vm, checkout, identity: (name) => this.options.client.identity(name), copy: (text) => screen.copyToClipboard(text) });
    this.#modal = { kind: 'members', screen: members };
    this.render();
    await members.load();
    this.render();
  }

  /** The Market tab: catalogues load in the background and fill the list as they arrive. */
  openMarket(): void {
    if (!this.options.market) {
      this.#say('no market here', true);
      return;
    }
    const market = new MarketScreen(this.options.market, () => {
      if (this.#modal?.kind === 'market' && this.#modal.market === market) this.render();
    });
    this.#modal = { kind: 'market', market };
    this.render();
    market.load().catch((error: unknown) => this.#say(`market: ${errorMessage(error)}`, true));
  }

  openWizard(editName?: string, localDir?: string | null): void {
    try {
      let wizard: Wizard;
      if (editName === undefined) wizard = new Wizard(this.wizardEnv());
      else {
        if (!localDir || !fs.existsSync(path.join(localDir, 'configs.json'))) {
          this.#say(`${editName} was not created by this panel: edit ${this.options.configFile} (or its flake) by hand`, true);
          return;
        }
        wizard = Wizard.forEdit(this.wizardEnv(), editName);
      }
      this.#modal = { kind: 'wizard', wizard };
      this.render();
    } catch (error) {
      this.#say(`cannot open the wizard: ${errorMessage(error)}`, true);
    }
  }
}

function rowKey(row: TreeRow): string {
  return row.kind === 'vm' ? `vm:${row.vm.name}` : `net:${row.network.label}`;
}
