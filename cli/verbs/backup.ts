/**
 * `hiboss backup list|run|restore NAME`: a VM's restore points, a backup now, a
 * restore — through the daemon's D-Bus API (Backups, Backup, Restore), waiting
 * for the outcome on its BackupChanged signal.
 */
import { DaemonCallError, type DaemonClient } from '../../api/client.js';
import { sizeText } from '../../api/backup-format.js';
import { VmName } from '../../config/schema.js';
import { connectToDaemon } from '../daemon-connection.js';
import { integerFlag, parseArgs, UsageError, type Verb } from '../args.js';

const ACTIONS = ['list', 'run', 'restore'] as const;

export const backupVerb: Verb = {
  usage: `usage: hiboss backup list NAME [--json]
       hiboss backup run NAME [--no-wait] [--timeout MS]
       hiboss backup restore NAME [ID] [--no-wait] [--timeout MS]

  list      the VM's restore points, oldest first (ID, time, kind, size, consistency)
  run       back the VM's disk up now (live while it runs; from its disk file when stopped)
            and wait for the outcome
  restore   stop the VM (ACPI powerdown), keep its current disk aside, write the backup ID
            (default: the latest) in its place, and start it again; waits for the outcome
Backups are set per VM in config.json: "backup": { "target": "/srv/backups", "everyHours": 24, "keep": 7 }.`,
  async run(argv) {
    const { flags, positional } = parseArgs(argv, { boolean: ['json', 'no-wait'], valued: ['timeout'] });
    const [action, name, id, extra] = positional;
    if (!action || !(ACTIONS as readonly string[]).includes(action)) throw new UsageError(`needs an action: ${ACTIONS.join(', ')}`);
    if (!name) throw new UsageError('needs a VM name');
    if (!VmName.safeParse(name).success) throw new UsageError(`invalid VM name "${name}" (1–32 of A–Z a–z 0–9 _ -)`);
    if (extra !== undefined || (action !== 'restore' && id !== undefined)) throw new UsageError(`unexpected argument "${extra ?? id}"`);
    if (id !== undefined && !/^[0-9A-Za-z]{1,64}$/.test(id)) throw new UsageError(`invalid backup id "${id}" (see hiboss backup list ${name})`);
    if (flags.has('json') && action !== 'list') throw new UsageError('--json goes with list');
    const timeoutMs = integerFlag(flags, 'timeout', 3_600_000, 1, 24 * 3_600_000);
    const client = await connectToDaemon();
    try {
      if (action === 'list') return await list(client, name, flags.has('json'));
      const ends = action === 'run' ? ['done', 'failed'] : ['restored', 'restore-failed'];
      const outcome = flags.has('no-wait') ? null : waitForBackup(client, name, ends, timeoutMs);
      outcome?.catch(() => {});
      console.log(action === 'run' ? await client.backup(name) : await client.restoreBackup(name, id ?? null));
      if (!outcome) return 0;
      const end = await outcome;
      console.log(end.message);
      return end.kind === 'done' || end.kind === 'restored' ? 0 : 1;
    } catch (error) {
      if (error instanceof DaemonCallError) {
        console.error(`hiboss backup ${action}: ${error.message}`);
        return 1;
      }
      throw error;
    } finally {
      client.close();
    }
  },
};

async function list(client: DaemonClient, name: string, json: boolean): Promise<number> {
  const backups = await client.backups(name);
  if (json) {
    console.log(JSON.stringify(backups));
    return 0;
  }
  if (backups.points.length === 0) {
    console.log(`${name}: no backups in ${backups.target}`);
    return 0;
  }
  const rows = [
    ['ID', 'TIME', 'KIND', 'SIZE', 'CONSISTENCY'],
    ...backups.points.map((p) => [p.id, p.at.replace('T', ' ').replace(/\.\d+Z$/, 'Z'), p.kind, p.bytes ? sizeText(p.bytes) : '-', p.consistency]),
  ];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  console.log(`${name}: ${backups.points.length} restore point${backups.points.length === 1 ? '' : 's'} in ${backups.target}`);
  for (const row of rows) console.log(row.map((cell, i) => cell.padEnd(widths[i]!)).join('  ').trimEnd());
  return 0;
}

function waitForBackup(client: DaemonClient, name: string, kinds: string[], timeoutMs: number): Promise<{ kind: string; message: string }> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      client.off('backup', listener);
      reject(new Error(`${name}: no outcome within ${timeoutMs} ms`));
    }, timeoutMs);
    const listener = (event: { name: string; kind: string; message: string }) => {
      if (event.name !== name || !kinds.includes(event.kind)) return;
      clearTimeout(timer);
      client.off('backup', listener);
      resolve(event);
    };
    client.on('backup', listener);
  });
}
