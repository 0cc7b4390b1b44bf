/**
 * The daemon logs one line per event to stderr (the journal adds time and unit
 * when it runs as a systemd user service); a VM's own lines also go to its log
 * file, where the panel reads them through the D-Bus API.
 */
import fs from 'node:fs';

export interface Logger {
  info(message: string): void;
  warn(message: string): void;
  /** A line about one VM: stderr and the VM's log file. */
  vm(name: string, message: string, level?: 'info' | 'warn'): void;
}

export function stderrLogger(vmLogFile: (name: string) => string | undefined): Logger {
  const write = (level: string, message: string) => process.stderr.write(`hiboss[${level}] ${message}\n`);
  return {
    info: (message) => write('info', message),
    warn: (message) => write('warn', message),
    vm(name, message, level = 'info') {
      write(level, `${name}: ${message}`);
      const file = vmLogFile(name);
      if (!file) return;
      try {
        fs.appendFileSync(file, `--- ${new Date().toISOString()} hiboss: ${message}\n`, { mode: 0o600 });
      } catch {
        /* the VM's directory may be gone (removed VM) or not made yet */
      }
    },
  };
}
