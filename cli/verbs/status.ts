import { formatDuration, formatHeld, formatVmMemory } from '../../api/format.js';
import { connectToDaemon } from '../daemon-connection.js';
import { STATE_GLYPHS, type DaemonStatus } from '../../api/schema.js';
import { parseArgs, UsageError, type Verb } from '../args.js';

export const statusVerb: Verb = {
  summary: 'list VMs',
  usage: `usage: hiboss status [--json]

Every configured VM, stopped ones too, as the daemon sees it (through its D-Bus API).
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
  const rows = [
    ['', 'NAME', 'STATE', 'WORKSPACE', 'PID', 'MEMORY', 'UPTIME', 'REASON'],
    ...status.vms.map((vm) => [
      vm.name === status.focusedVm ? '*' : ' ',
      vm.name,
      `${STATE_GLYPHS[vm.state]} ${vm.state}${vm.heldByUser ? ' (held)' : ''}`,
      vm.workspace ?? '-',
      vm.pid === null ? '-' : String(vm.pid),
      formatVmMemory(vm),
      formatDuration(vm.uptimeMs),
      vm.reason,
    ]),
  ];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => [...r[i]!].length)));
  const lines = rows.map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  ').trimEnd());
  const held = formatHeld(status.memory);
  if (held && status.memory?.budgetMiB !== null) lines.push('', `memory: ${held}`);
  if (status.configProblems.length) {
    lines.push('', 'The config file on disk was refused; the last good one is in force:', ...status.configProblems.map((p) => `  ${p}`));
  }
  return lines.join('\n');
}
