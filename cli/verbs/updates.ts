/**
 * Flake VMs' generations and updates: `hiboss generations NAME`,
 * `hiboss update NAME`, `hiboss rollback NAME [GENERATION]` — all through the
 * daemon's D-Bus API (Generations, Update, Rollback; UpdateEvent and VmLog
 * signals for progress).
 */
import { DaemonCallError, DaemonClient } from '../../api/client.js';
import { formatDuration } from '../../api/format.js';
import { shortRevision, type GenerationsReport, type UpdateJudgementKind, type UpdateProgressKind } from '../../api/schema.js';
import { heldLines } from '../../api/held-update.js';
import { VmName } from '../../config/schema.js';
import { integerFlag, parseArgs, UsageError, type Verb } from '../args.js';
import { connectToDaemon } from '../daemon-connection.js';

function vmName(positional: string[], max: number): string {
  const [name] = positional;
  if (!name) throw new UsageError('needs a VM name');
  if (positional.length > max) throw new UsageError(`unexpected argument "${positional[max]}"`);
  if (!VmName.safeParse(name).success) throw new UsageError(`invalid VM name "${name}" (1–32 of A–Z a–z 0–9 _ -)`);
  return name;
}

async function withDaemon(verb: string, run: (client: DaemonClient) => Promise<number>): Promise<number> {
  const client = await connectToDaemon();
  try {
    return await run(client);
  } catch (error) {
    if (error instanceof DaemonCallError) {
      console.error(`hiboss ${verb}: ${error.message}`);
      return 1;
    }
    throw error;
  } finally {
    client.close();
  }
}

export function renderGenerations(report: GenerationsReport, now = Date.now()): string {
  if (report.generations.length === 0 && !report.held) return `${report.name}: no generations yet (the first start builds one)`;
  const rows = [
    ['', 'GEN', 'REVISION', 'BUILT', 'OUTCOME', 'GC ROOT'],
    ...report.generations.map((g) => [
      g.number === report.selected ? '*' : ' ',
      String(g.number),
      shortRevision(g.revision),
      `${formatDuration(now - g.builtAt)} ago`,
      g.outcome === 'failed' ? `failed: ${g.failure ?? '?'}` : g.outcome,
      g.gcRoot ?? '(gone)',
    ]),
  ];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => [...r[i]!].length)));
  const lines = rows.map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  ').trimEnd());
  lines.push('', '* boots at the next start');
  if (report.updating) lines.push(`an ${report.updating.auto ? 'automatic ' : ''}update is building (for ${formatDuration(now - report.updating.since)})`);
  if (report.held) lines.push('', ...heldLines(report.held), `approve: hiboss update --approve ${report.name}`);
  return lines.join('\n');
}

export const generationsVerb: Verb = {
  usage: `usage: hiboss generations NAME [--json]

The builds of flake VM NAME, newest first: revision, when built, outcome (new, healthy,
failed and why) and GC root; * marks the one its next start boots.`,
  async run(argv) {
    const { flags, positional } = parseArgs(argv, { boolean: ['json'] });
    const name = vmName(positional, 1);
    return withDaemon('generations', async (client) => {
      const report = await client.generations(name);
      console.log(flags.has('json') ? JSON.stringify(report) : renderGenerations(report));
      return 0;
    });
  },
};

/** UpdateEvent kinds that end a build. */
const BUILD_DONE: ReadonlySet<string> = new Set<UpdateProgressKind>(['built', 'build-failed', 'up-to-date', 'held']);
/** ...and those that end a judgement (with --now). */
const JUDGED: ReadonlySet<string> = new Set<UpdateJudgementKind>(['healthy', 'failed', 'rolled-back']);

export const updateVerb: Verb = {
  usage: `usage: hiboss update [--approve] NAME [--now] [--no-wait] [--timeout MS]

Builds the newest revision of flake VM NAME's flake as a new generation, the build log
streamed here. With updates.review on (config.json), a revision whose inputs changed is
held, not built: this prints the inputs' old → new revisions and what the build will
cost, and --approve builds exactly that revision. The new generation boots at the VM's next cold start, or at once with
--now (a graceful restart; the disk stays). Once booted it must answer the guest agent
within healthTimeoutMs, or it is rolled back by itself. Exit 1 when the build fails
(the current generation stays) or, with --now, when the update was rolled back.

A VM joined from IPFS, Yggdrasil or a mirror runs a fetched copy, which never changes
by itself: the update first follows where it came from. From a catalogue entry
(hiboss market join), the entry is fetched again, its signature checked, and the
source it names now fetched; the VM's flake then names that copy. From a nix://ygg-
link, the repository is cloned again. From a nix://ipfs- link, nothing newer exists
(a CID is fixed content): exit 1, saying what to do instead.`,
  async run(argv) {
    const { flags, positional } = parseArgs(argv, { boolean: ['now', 'no-wait', 'approve'], valued: ['timeout'] });
    const name = vmName(positional, 1);
    const timeoutMs = integerFlag(flags, 'timeout', 3_600_000, 1, 86_400_000);
    const now = flags.has('now');
    return withDaemon('update', async (client) => {
      // A VM that is down only gets the new generation selected: there is no judgement to wait for.
      const vm = (await client.status()).vms.find((v) => v.name === name);
      const judgedNow = now && vm !== undefined && ['running', 'paused', 'starting'].includes(vm.state);
      let stage: 'build' | 'health' = 'build';
      let builtKind = '';
      const finished = new Promise<number>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no outcome within ${timeoutMs} ms`)), timeoutMs);
        client.on('log', ({ name: vm, line }) => {
          if (vm === name) console.log(`${name}: ${line}`);
        });
        client.on('update', ({ name: vm, kind }) => {
          if (vm !== name) return;
          if (stage === 'build' && BUILD_DONE.has(kind)) {
            builtKind = kind;
            if (kind !== 'built' || !judgedNow) return void (clearTimeout(timer), resolve(kind === 'build-failed' ? 1 : 0));
            stage = 'health';
            return;
          }
          if (stage === 'health' && JUDGED.has(kind)) {
            clearTimeout(timer);
            resolve(kind === 'healthy' ? 0 : 1);
          }
        });
        client.on('down', () => reject(new Error('the daemon went away')));
      });
      finished.catch(() => {});
      const reply = flags.has('approve') ? await client.approveUpdate(name, now) : await client.update(name, now);
      if (flags.has('no-wait')) {
        console.log(reply);
        return 0;
      }
      const code = await finished;
      if (builtKind === 'held') {
        const held = (await client.generations(name)).held;
        if (held) console.log([...heldLines(held), `approve: hiboss update --approve ${name}${now ? ' --now' : ''}`].join('\n'));
      }
      if (builtKind === 'built' && !judgedNow) console.log(`${name}: the new generation boots at its next start (hiboss update --now, or hiboss vm restart ${name})`);
      return code;
    });
  },
};

export const rollbackVerb: Verb = {
  usage: `usage: hiboss rollback NAME [GENERATION] [--now]

Selects GENERATION of flake VM NAME (default: the newest healthy one before the one
selected now) for its next cold start; --now restarts it into that generation at once.
\`hiboss generations NAME\` lists them.`,
  async run(argv) {
    const { flags, positional } = parseArgs(argv, { boolean: ['now'] });
    const name = vmName(positional, 2);
    const raw = positional[1];
    if (raw !== undefined && !/^[1-9]\d{0,8}$/.test(raw)) throw new UsageError(`GENERATION must be a generation number, not "${raw}"`);
    return withDaemon('rollback', async (client) => {
      console.log(await client.rollback(name, raw === undefined ? 0 : Number(raw), flags.has('now')));
      return 0;
    });
  },
};
