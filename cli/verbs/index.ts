/**
 * Every `hiboss` verb, in one table: the CLI dispatches from it, `--help` lists
 * it, and the shell completions are generated from it. Each verb's module is
 * imported only when used, so the bar and key clicks start fast.
 */
import type { Verb } from '../args.js';

type VerbLoader = () => Promise<Verb>;

export const verbs: Record<string, { summary: string; load: VerbLoader }> = {
  daemon: { summary: 'run the session daemon (foreground)', load: async () => (await import('./daemon.js')).daemonVerb },
  status: { summary: 'list every configured VM and its state', load: async () => (await import('./status.js')).statusVerb },
  vm: { summary: 'start|stop|pause|resume|restart|hibernate|prewarm NAME', load: async () => (await import('./vm.js')).vmVerb },
  toggle: { summary: 'pause or resume the focused workspace\'s VM', load: async () => (await import('./act.js')).actVerb('toggle') },
  start: { summary: 'start the focused workspace\'s VM (or NAME)', load: async () => (await import('./act.js')).actVerb('start') },
  stop: { summary: 'stop the focused workspace\'s VM (or NAME)', load: async () => (await import('./act.js')).actVerb('stop') },
  restart: { summary: 'restart the focused workspace\'s VM (or NAME)', load: async () => (await import('./act.js')).actVerb('restart') },
  hibernate: { summary: 'save the focused workspace\'s VM (or NAME) to disk', load: async () => (await import('./act.js')).actVerb('hibernate') },
  prewarm: { summary: 'restore a hibernated VM (NAME) early, without running it', load: async () => (await import('./act.js')).actVerb('prewarm') },
  next: { summary: 'go to the next VM workspace', load: async () => (await import('./act.js')).actVerb('next') },
  prev: { summary: 'go to the previous VM workspace', load: async () => (await import('./act.js')).actVerb('prev') },
  generations: { summary: 'list a flake VM\'s generations', load: async () => (await import('./updates.js')).generationsVerb },
  update: { summary: 'build a flake VM\'s newest revision (--now: restart into it; --approve: the one held for review)', load: async () => (await import('./updates.js')).updateVerb },
  rollback: { summary: 'select an earlier generation of a flake VM', load: async () => (await import('./updates.js')).rollbackVerb },
  backup: { summary: 'list|run|restore NAME [ID]: a VM\'s disk backups', load: async () => (await import('./backup.js')).backupVerb },
  mic: { summary: 'pin|unpin [NAME]: keep the microphone with a VM, or let it follow focus', load: async () => (await import('./desktop.js')).micVerb },
  clip: { summary: 'to|from [NAME]: the clipboard into or out of a VM, by hand', load: async () => (await import('./desktop.js')).clipVerb },
  bar: { summary: 'status bar module (waybar, i3bar, i3blocks)', load: async () => (await import('./bar.js')).barVerb },
  'wm-config': { summary: 'print the sway/i3 key binding snippet', load: async () => (await import('./wm-config.js')).wmConfigVerb },
  panel: { summary: 'the terminal VM manager and network wizard', load: async () => (await import('./panel.js')).panelVerb },
  join: { summary: 'review and join a network from a nix:// URI', load: async () => (await import('./join.js')).joinVerb },
  market: { summary: 'list|search|show|join|publish networks of trusted catalogues', load: async () => (await import('./market.js')).marketVerb },
  network: { summary: "a network's members: identity VM | admit CHECKOUT REQUEST | remove CHECKOUT MEMBER", load: async () => (await import('./network.js')).networkVerb },
  completion: { summary: 'print a bash, zsh or fish completion script', load: async () => (await import('./completion.js')).completionVerb },
  'systemd-unit': { summary: 'print the systemd user unit for this install', load: async () => (await import('./systemd-unit.js')).systemdUnitVerb },
  wm: { summary: 'debug: workspaces | events [TYPE…]', load: async () => (await import('./wm.js')).wmVerb },
  qmp: { summary: 'debug: run one QMP command: SOCKET COMMAND [ARGS_JSON]', load: async () => (await import('./qmp.js')).qmpVerb },
  demo: { summary: 'headless sway + two small VMs + the daemon, switching', load: async () => (await import('./demo.js')).demoVerb },
};
