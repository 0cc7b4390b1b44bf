import { parseArgs, UsageError, type Verb } from '../args.js';

/** Bindings are `nop` commands: the daemon sees them as binding events, so a key press spawns nothing. */
export function keybindingSnippet(mod = '$mod'): string {
  return [
    '# hiboss: VM keys (handled by the hiboss daemon from binding events; nothing is spawned)',
    `bindsym --no-repeat ${mod}+p nop hiboss toggle`,
    `bindsym --no-repeat ${mod}+Shift+p nop hiboss restart`,
    `bindsym --no-repeat ${mod}+bracketright nop hiboss next`,
    `bindsym --no-repeat ${mod}+bracketleft nop hiboss prev`,
    `bindsym --no-repeat ${mod}+Shift+s nop hiboss start`,
    `bindsym --no-repeat ${mod}+Shift+x nop hiboss stop`,
    '# hiboss: the clipboard crosses only by hand (Qubes-like): the host\'s into the focused VM\'s, the VM\'s into the host\'s',
    `bindsym --no-repeat ${mod}+Ctrl+v nop hiboss clipto`,
    `bindsym --no-repeat ${mod}+Ctrl+c nop hiboss clipfrom`,
    '# hiboss: keep the microphone with the focused VM while you look elsewhere; give it back to the focus',
    `bindsym --no-repeat ${mod}+Ctrl+m nop hiboss micpin`,
    `bindsym --no-repeat ${mod}+Ctrl+Shift+m nop hiboss micunpin`,
    '',
  ].join('\n');
}

export const wmConfigVerb: Verb = {
  usage: `usage: hiboss wm-config [--mod MOD]

Prints a sway/i3 config snippet binding hiboss's verbs (toggle, restart, next, prev,
start, stop) to keys. Add it to ~/.config/sway/config or ~/.config/i3/config.`,
  async run(argv) {
    const { flags, positional } = parseArgs(argv, { valued: ['mod'] });
    if (positional.length) throw new UsageError(`unexpected argument "${positional[0]}"`);
    const mod = (flags.get('mod') as string | undefined) ?? '$mod';
    if (!/^[$A-Za-z0-9_+]{1,32}$/.test(mod)) throw new UsageError(`invalid modifier "${mod}"`);
    process.stdout.write(keybindingSnippet(mod));
    return 0;
  },
};
