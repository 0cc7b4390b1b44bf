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
  /** The VM is gone: close its log file. */
  forget(name: string): void;
}

/**
 * `vmLogFile` names a VM's log file, or undefined where none may be written (its
 * directory is not ours). The file is opened once and kept: a log line on the
 * switch path costs one write, not an open, a check and a close.
 */
export function stderrLogger(vmLogFile: (name: string) => string | undefined): Logger {
  const write = (level: string, message: string) => process.stderr.write(`hiboss[${level}] ${message}\n`);
  const files = new Map<string, number>();
  const fileOf = (name: string): number | undefined => {
    const open = files.get(name);
    if (open !== undefined) return open;
    const file = vmLogFile(name);
    if (!file) return undefined;
    try {
      const fd = fs.openSync(file, fs.constants.O_WRONLY | fs.constants.O_APPEND | fs.constants.O_CREAT | fs.constants.O_NOFOLLOW, 0o600);
      files.set(name, fd);
      return fd;
    } catch {
      return undefined; // the VM's directory is not made yet
    }
  };
  return {
    info: (message) => write('info', message),
    warn: (message) => write('warn', message),
    vm(name, message, level = 'info') {
      write(level, `${name}: ${message}`);
      const fd = fileOf(name);
      if (fd === undefined) return;
      try {
        fs.writeSync(fd, `--- ${new Date().toISOString()} hiboss: ${message}\n`);
      } catch {
        files.delete(name);
      }
    },
    forget(name) {
      const fd = files.get(name);
      files.delete(name);
      if (fd !== undefined) fs.closeSync(fd);
    },
  };
}
