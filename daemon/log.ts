/**
 * The daemon logs one line per event to stderr (the journal adds time and unit
 * when it runs as a systemd user service); a VM's own lines also go to its log
 * file, where the panel reads them through the D-Bus API.
 */
import fs from 'node:fs';

export interface Logger {
  info(message: string): void;
  warn(message: string): void;
  vm(name: string, message: string): void;
}

export function stderrLogger(vmLogFile: (name: string) => string | undefined, onVmLine?: (name: string, line: string) => void): Logger {
  const write = (level: string, message: string) => process.stderr.write(`hiboss[${level}] ${message}\n`);
  return {
    info: (message) => write('info', message),
    warn: (message) => write('warn', message),
    vm(name, message) {
      write('info', `${name}: ${message}`);
      const file = vmLogFile(name);
      if (file) {
        try {
          fs.appendFileSync(file, `--- ${new Date().toISOString()} hiboss: ${message}\n`);
        } catch {
          /* the VM's directory may be gone (removed VM) */
        }
      }
      onVmLine?.(name, message);
    },
  };
}
