/**
 * `hiboss completion bash|zsh|fish`: a completion script generated from the verb
 * table (verbs/index.ts) and each verb's usage synopsis, so a verb or flag added
 * there completes without touching this file. VM names are asked of the running
 * daemon (`hiboss status --json`) at completion time.
 */
import { parseArgs, UsageError, type Verb } from '../args.js';
import { verbs } from './index.js';

/** What may be typed at one argument position or as one flag's value. */
export type Slot = { kind: 'words'; words: string[] } | { kind: 'vm' } | { kind: 'file' } | { kind: 'none' };

export interface VerbSpec {
  name: string;
  summary: string;
  /** Per position, after the verb (alternative synopses merged). */
  positionals: Slot[];
  /** Every flag, `--help` included; `value` when it takes one. */
  flags: { name: string; value?: Slot }[];
}

const FILE_PLACEHOLDERS = new Set(['PATH', 'FILE', 'SOCKET', 'DIR']);

function slotOf(token: string, positional: boolean): Slot {
  const word = token.replace(/…$/, '');
  if (word.includes('|')) return { kind: 'words', words: word.split('|').filter(Boolean) };
  // NAME as an argument is a configured VM; as a flag's value (join --name) it is a new one.
  if (word === 'NAME' && positional) return { kind: 'vm' };
  if (FILE_PLACEHOLDERS.has(word)) return { kind: 'file' };
  if (/^[a-z][a-z0-9-]*$/.test(word)) return { kind: 'words', words: [word] };
  return { kind: 'none' };
}

/**
 * Reads a usage text's synopsis lines ("usage: hiboss VERB [--flag VALUE] ARG …",
 * more lines "hiboss VERB …" for alternatives) into the verb's arguments and flags.
 */
export function parseSynopsis(name: string, summary: string, usage: string): VerbSpec {
  const spec: VerbSpec = { name, summary, positionals: [], flags: [{ name: '--help' }] };
  const head = usage.split('\n\n', 1)[0]!.split('\n');
  for (const line of head) {
    const m = /^(?:usage:)?\s*hiboss\s+(\S+)(.*)$/.exec(line);
    if (!m || m[1] !== name) continue;
    let position = 0;
    for (const group of m[2]!.match(/\[[^\]]*\]|\S+/g) ?? []) {
      const bracketed = group.startsWith('[');
      const tokens = bracketed ? group.slice(1, -1).split(/\s+/).filter((t) => t && t !== '|') : [group];
      if (!tokens.some((t) => t.startsWith('-'))) {
        const slot = slotOf(tokens.join(' '), true);
        const had = spec.positionals[position];
        if (had?.kind === 'words' && slot.kind === 'words') had.words.push(...slot.words.filter((w) => !had.words.includes(w)));
        else if (!had || had.kind === 'none') spec.positionals[position] = slot;
        position++;
        continue;
      }
      for (const token of tokens) {
        if (token.startsWith('--')) {
          if (!spec.flags.some((f) => f.name === token)) spec.flags.push({ name: token });
        } else {
          // A word after a flag is that flag's value.
          const flag = [...spec.flags].reverse().find((f) => tokens.includes(f.name));
          if (flag) flag.value = slotOf(token, false);
        }
      }
    }
  }
  return spec;
}

export async function verbSpecs(): Promise<VerbSpec[]> {
  return Promise.all(
    Object.entries(verbs).map(async ([name, entry]) => parseSynopsis(name, entry.summary, (await entry.load()).usage)),
  );
}

/** A single-quoted word for bash and zsh. */
const sq = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`;
/** A single-quoted word for fish (which escapes \ and ' inside quotes). */
const fq = (s: string) => `'${s.replaceAll('\\', '\\\\').replaceAll("'", "\\'")}'`;

// The daemon's JSON has "name" keys only in its VM objects; no jq needed.
const VM_NAMES_SH = `command hiboss status --json 2>/dev/null | grep -o '"name":"[^"\\\\]*"' | cut -d'"' -f4`;

/** Slot → case patterns ("verb:position" or "verb:--flag"), grouped by what they complete. */
function slotCases(specs: VerbSpec[]): { key: string; slot: Slot }[] {
  const cases: { key: string; slot: Slot }[] = [];
  for (const spec of specs) {
    spec.positionals.forEach((slot, i) => cases.push({ key: `${spec.name}:${i}`, slot }));
    for (const flag of spec.flags) if (flag.value) cases.push({ key: `${spec.name}:${flag.name}`, slot: flag.value });
  }
  return cases.filter((c) => c.slot.kind !== 'none');
}

function groupBy<T>(items: T[], key: (t: T) => string): Map<string, T[]> {
  const map = new Map<string, T[]>();
  for (const item of items) map.set(key(item), [...(map.get(key(item)) ?? []), item]);
  return map;
}

const slotKey = (s: Slot) => (s.kind === 'words' ? `words:${s.words.join(' ')}` : s.kind);
const valuedFlags = (spec: VerbSpec) => spec.flags.filter((f) => f.value).map((f) => f.name);

export function bashScript(specs: VerbSpec[]): string {
  const slotLines = [...groupBy(slotCases(specs), (c) => slotKey(c.slot)).values()].map((group) => {
    const slot = group[0]!.slot;
    const action =
      slot.kind === 'words'
        ? `mapfile -t COMPREPLY < <(compgen -W ${sq(slot.words.join(' '))} -- "$cur")`
        : slot.kind === 'vm'
          ? 'mapfile -t COMPREPLY < <(compgen -W "$(_hiboss_vms)" -- "$cur")'
          : 'compopt -o filenames 2>/dev/null; mapfile -t COMPREPLY < <(compgen -f -- "$cur")';
    return `    ${group.map((c) => sq(c.key)).join('|')}) ${action} ;;`;
  });
  const verbLines = specs.map(
    (s) => `    ${sq(s.name)}) flags=${sq(s.flags.map((f) => f.name).join(' '))} valued=${sq(` ${valuedFlags(s).join(' ')} `)} ;;`,
  );
  return `# bash completion for hiboss, generated by \`hiboss completion bash\` from its verb table.
#   source <(hiboss completion bash)     in ~/.bashrc, or save the output as
#   ~/.local/share/bash-completion/completions/hiboss
_hiboss_vms() {
  ${VM_NAMES_SH}
}
_hiboss_slot() { # $1: VERB:POSITION or VERB:--FLAG (its value)
  case $1 in
${slotLines.join('\n')}
  esac
}
_hiboss() {
  local cur=\${COMP_WORDS[COMP_CWORD]} prev=\${COMP_WORDS[COMP_CWORD-1]} verb=\${COMP_WORDS[1]}
  local flags valued i n=0
  COMPREPLY=()
  if ((COMP_CWORD == 1)); then
    mapfile -t COMPREPLY < <(compgen -W ${sq(specs.map((s) => s.name).join(' '))} -- "$cur")
    return 0
  fi
  case $verb in
${verbLines.join('\n')}
    *) return 0 ;;
  esac
  # Which argument is being typed: flags and their values do not count.
  for ((i = 2; i < COMP_CWORD; i++)); do
    if [[ \${COMP_WORDS[i]} == -* ]]; then
      [[ $valued == *" \${COMP_WORDS[i]} "* ]] && i=$((i + 1))
    else
      n=$((n + 1))
    fi
  done
  if [[ $valued == *" $prev "* ]]; then
    _hiboss_slot "$verb:$prev"
  elif [[ $cur == -* ]]; then
    mapfile -t COMPREPLY < <(compgen -W "$flags" -- "$cur")
  else
    _hiboss_slot "$verb:$n"
  fi
  return 0
}
complete -F _hiboss hiboss
`;
}

export function zshScript(specs: VerbSpec[]): string {
  const slotLines = [...groupBy(slotCases(specs), (c) => slotKey(c.slot)).values()].map((group) => {
    const slot = group[0]!.slot;
    const action =
      slot.kind === 'words'
        ? `compadd -- ${slot.words.map(sq).join(' ')}`
        : slot.kind === 'vm'
          ? 'compadd -- ${(f)"$(_hiboss_vms)"}'
          : '_files';
    return `    ${group.map((c) => sq(c.key)).join('|')}) ${action} ;;`;
  });
  const verbLines = specs.map(
    (s) => `    ${sq(s.name)}) flags=(${s.flags.map((f) => sq(f.name)).join(' ')}) valued=${sq(` ${valuedFlags(s).join(' ')} `)} ;;`,
  );
  // _describe takes NAME:DESCRIPTION; a colon in the name would need escaping.
  const described = specs.map((s) => sq(`${s.name.replaceAll(':', '\\:')}:${s.summary}`)).join(' ');
  return `#compdef hiboss
# zsh completion for hiboss, generated by \`hiboss completion zsh\` from its verb table.
#   source <(hiboss completion zsh)     in ~/.zshrc after compinit, or save the output
#   as _hiboss in a directory of $fpath
_hiboss_vms() {
  ${VM_NAMES_SH}
}
_hiboss() {
  local verb=\${words[2]} prev=\${words[CURRENT-1]} valued slot i n=0
  local -a flags verbs
  if (( CURRENT == 2 )); then
    verbs=(${described})
    _describe -t verbs 'hiboss verb' verbs
    return
  fi
  case $verb in
${verbLines.join('\n')}
    *) return 1 ;;
  esac
  # Which argument is being typed: flags and their values do not count.
  for (( i = 3; i < CURRENT; i++ )); do
    if [[ \${words[i]} == -* ]]; then
      [[ $valued == *" \${words[i]} "* ]] && i=$(( i + 1 ))
    else
      n=$(( n + 1 ))
    fi
  done
  if [[ $valued == *" $prev "* ]]; then
    slot=$verb:$prev
  elif [[ \${words[CURRENT]} == -* ]]; then
    compadd -- $flags
    return
  else
    slot=$verb:$n
  fi
  case $slot in
${slotLines.join('\n')}
  esac
}
# Autoloaded from $fpath this file is _hiboss's body; sourced, it registers it.
if [[ $funcstack[1] == _hiboss ]]; then _hiboss "$@"; else compdef _hiboss hiboss; fi
`;
}

export function fishScript(specs: VerbSpec[]): string {
  const lines: string[] = [];
  for (const spec of specs) {
    lines.push(`complete -c hiboss -n __fish_use_subcommand -a ${fq(spec.name)} -d ${fq(spec.summary)}`);
    const valued = valuedFlags(spec).join(' ');
    spec.positionals.forEach((slot, i) => {
      const when = fq(`__hiboss_arg ${spec.name} ${i} ${valued}`.trimEnd());
      if (slot.kind === 'words') lines.push(`complete -c hiboss -n ${when} -a ${fq(slot.words.join(' '))}`);
      else if (slot.kind === 'vm') lines.push(`complete -c hiboss -n ${when} -a '(__hiboss_vms)'`);
      else if (slot.kind === 'file') lines.push(`complete -c hiboss -n ${when} -F`);
    });
    for (const flag of spec.flags) {
      const base = `complete -c hiboss -n ${fq(`__hiboss_verb ${spec.name}`)} -l ${fq(flag.name.slice(2))}`;
      const value = flag.value;
      if (!value) lines.push(base);
      else if (value.kind === 'words') lines.push(`${base} -x -a ${fq(value.words.join(' '))}`);
      else if (value.kind === 'file') lines.push(`${base} -r -F`);
      else lines.push(`${base} -x`);
    }
  }
  return `# fish completion for hiboss, generated by \`hiboss completion fish\` from its verb table.
#   hiboss completion fish > ~/.config/fish/completions/hiboss.fish
function __hiboss_vms
    command hiboss status --json 2>/dev/null | string match -ar '"name":"[^"\\\\\\\\]*"' | string replace -r '^"name":"(.*)"$' '$1'
end
function __hiboss_verb -a verb
    set -l tokens (commandline -opc)
    test (count $tokens) -ge 2; and test $tokens[2] = $verb
end
# Is the token being completed argument N (from 0) of VERB? Flags (and the values of the
# flags named after N) do not count.
function __hiboss_arg -a verb n
    set -l tokens (commandline -opc)
    test (count $tokens) -ge 2; and test $tokens[2] = $verb; or return 1
    set -l count 0
    set -l value 0
    for token in $tokens[3..]
        if test $value = 1
            set value 0
        else if string match -q -- '-*' $token
            contains -- $token $argv[3..]; and set value 1
        else
            set count (math $count + 1)
        end
    end
    test $value = 0; and test $count = $n
end
complete -c hiboss -f
${lines.join('\n')}
`;
}

const SHELLS = { bash: bashScript, zsh: zshScript, fish: fishScript } as const;

export const completionVerb: Verb = {
  usage: `usage: hiboss completion bash|zsh|fish

Prints a completion script generated from hiboss's verbs and their flags; VM names
are completed from the running daemon.
  bash   source <(hiboss completion bash)           (in ~/.bashrc)
  zsh    source <(hiboss completion zsh)            (in ~/.zshrc, after compinit)
  fish   hiboss completion fish > ~/.config/fish/completions/hiboss.fish`,
  async run(argv) {
    const { positional } = parseArgs(argv, {});
    const shell = positional[0];
    if (positional.length !== 1 || !shell || !Object.hasOwn(SHELLS, shell)) {
      throw new UsageError(`needs one shell: ${Object.keys(SHELLS).join(', ')}`);
    }
    process.stdout.write(SHELLS[shell as keyof typeof SHELLS](await verbSpecs()));
    return 0;
  },
};
