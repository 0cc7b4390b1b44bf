import { formatHeld } from '../../api/format.js';
import { connectToDaemon } from '../daemon-connection.js';
import { backupStatusLine } from '../../api/backup-format.js';
import type { DaemonStatus } from '../../api/schema.js';
import { parseArgs, UsageError, type Verb } from '../args.js';
import { ansiWanted, layoutTable, statusRows } from '../status-table.js';

export const statusVerb: Verb = {
  usage: `usage: hiboss status [--json]

Every configured VM, stopped ones too, as the daemon sees it (through its D-Bus API): its
network colour, state, hold (paused/stopped by you), memory (resident/budget), uptime, last
backup and why it is in its state. Colours are shown in a terminal unless NO_COLOR is set.
  --json   {"vms": [{"name", "state", "workspace", "pid", "reason", …}], "focusedVm", …}`,
  async run(argv) {
    const { flags, positional } = parseArgs(argv, { boolean: ['json'] });
    if (positional.length) throw new UsageError(`unexpected argument "${positional[0]}"`);
    const client = await connectToDaemon();
    try {
      const status = await client.status();
      console.log(flags.has('json') ? JSON.stringify(status) : renderTable(status));
      return 0;
    } finally {
      client.close();
    }
  },
};

function renderTable(status: DaemonStatus): string {
  // The VMs (cli/status-table.ts): colour, state, hold, memory, uptime, last backup.
  const lines = layoutTable(statusRows(status, { now: Date.now(), ansi: ansiWanted(process.stdout) }));
  const held = formatHeld(status.memory);
  if (held && status.memory?.budgetMiB !== null) lines.push('', `memory: ${held}`);
  const backups = status.vms.filter((vm) => vm.backup?.configured).map((vm) => backupStatusLine(vm.name, vm.backup!, Date.now()));
  if (backups.length) lines.push('', 'Backups:', ...backups);
  // updates.review: what waits for the member (hiboss update NAME shows it whole).
  const reviews = status.vms.filter((vm) => vm.updateHeld).map((vm) => `  ${vm.name}: update ${vm.updateHeld} held for review (hiboss update ${vm.name}; --approve to build it)`);
  if (reviews.length) lines.push('', 'Updates:', ...reviews);
  if (status.configProblems.length) {
    lines.push('', 'The config file on disk was refused; the last good one is in force:', ...status.configProblems.map((p) => `  ${p}`));
  }
  return lines.join('\n');
}
