/**
 * `hiboss` — one entry point, verbs dispatched from a table. Each verb's module
 * is imported only when used, so the bar and key clicks start fast.
 */
import { UsageError, helpRequested, type Verb } from './args.js';

type VerbLoader = () => Promise<Verb>;

const verbs: Record<string, { summary: string; load: VerbLoader }> = {
  daemon: { summary: 'run the session daemon (foreground)', load: async () => (await import('./verbs/daemon.js')).daemonVerb },
  status: { summary: 'list every configured VM and its state', load: async () => (await import('./verbs/status.js')).statusVerb },
  vm: { summary: 'start|stop|pause|resume|restart NAME', load: async () => (await import('./verbs/vm.js')).vmVerb },
  toggle: { summary: 'pause or resume the focused workspace\'s VM', load: async () => (await import('./verbs/act.js')).actVerb('toggle') },
  start: { summary: 'start the focused workspace\'s VM (or NAME)', load: async () => (await import('./verbs/act.js')).actVerb('start') },
  stop: { summary: 'stop the focused workspace\'s VM (or NAME)', load: async () => (await import('./verbs/act.js')).actVerb('stop') },
  restart: { summary: 'restart the focused workspace\'s VM (or NAME)', load: async () => (await import('./verbs/act.js')).actVerb('restart') },
  next: { summary: 'go to the next VM workspace', load: async () => (await import('./verbs/act.js')).actVerb('next') },
  prev: { summary: 'go to the previous VM workspace', load: async () => (await import('./verbs/act.js')).actVerb('prev') },
  bar: { summary: 'status bar module (waybar, i3bar, i3blocks)', load: async () => (await import('../bar-module/verb.js')).barVerb },
  'wm-config': { summary: 'print the sway/i3 key binding snippet', load: async () => (await import('./verbs/wm-config.js')).wmConfigVerb },
  panel: { summary: 'the terminal VM manager and network wizard', load: async () => (await import('../panel/verb.js')).panelVerb },
  join: { summary: 'review and join a network from a nix:// URI', load: async () => (await import('../panel/verb.js')).joinVerb },
  wm: { summary: 'debug: workspaces | events [TYPE…]', load: async () => (await import('./verbs/wm.js')).wmVerb },
  qmp: { summary: 'debug: run one QMP command: SOCKET COMMAND [ARGS_JSON]', load: async () => (await import('./verbs/qmp.js')).qmpVerb },
  demo: { summary: 'headless sway + two small VMs + the daemon, switching', load: async () => (await import('./verbs/demo.js')).demoVerb },
};

function mainUsage(): string {
  const width = Math.max(...Object.keys(verbs).map((v) => v.length));
  return [
    'usage: hiboss VERB [ARGS…]   (hiboss VERB --help for details)',
    '',
    ...Object.entries(verbs).map(([name, v]) => `  ${name.padEnd(width)}  ${v.summary}`),
  ].join('\n');
}

export async function main(argv: string[]): Promise<number> {
  const [verbName, ...rest] = argv;
  if (verbName === undefined || verbName === '--help' || verbName === '-h' || verbName === 'help') {
    console.log(mainUsage());
    return verbName === undefined ? 2 : 0;
  }
  const entry = Object.hasOwn(verbs, verbName) ? verbs[verbName] : undefined;
  if (!entry) {
    console.error(`hiboss: unknown verb "${verbName}" (try hiboss --help)`);
    return 2;
  }
  const verb = await entry.load();
  if (helpRequested(rest)) {
    console.log(verb.usage);
    return 0;
  }
  try {
    return await verb.run(rest);
  } catch (error) {
    if (error instanceof UsageError) {
      console.error(`hiboss ${verbName}: ${error.message}`);
      return 2;
    }
    throw error;
  }
}
