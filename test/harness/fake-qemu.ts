/**
 * A QMP double of a QEMU ≥ 9 for the one path QEMU 7.2 (the QEMU of these
 * machines and of CI) cannot take: hibernation through `file:` migration with
 * the `mapped-ram` capability (daemon/vm/hibernate.ts). Run as a program, with
 * the argv hiboss gives QEMU (`-qmp unix:…`, `-pidfile …`, `-incoming defer`)
 * plus `-fake-behaviour FILE`: a JSON file read at each use, so a test can take
 * `mapped-ram` away between a save and a restore without changing the argv.
 * It logs every command it gets to FILE.log (JSON lines). What it "saves" is a
 * sparse image like QEMU's (the guest's RAM size long, mostly holes) carrying
 * a token; a restore reads the token back and logs it — the guest it brings
 * back is the one that was saved.
 *
 * Only a stand-in for the path no real QEMU here offers: the stream path is
 * tested against real QEMU 7.2 (test/daemon/hibernate-io.test.ts, e2e-hibernate).
 */
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import { errorMessage } from '../../shared/error-message.js';

export interface FakeQemuBehaviour {
  /** Offered in query-migrate-capabilities. */
  mappedRam: boolean;
  /** The guest RAM the image spans (the file's length). */
  ramBytes: number;
}

export const FAKE_RAM_BYTES = 64 * 1024 * 1024;
const TOKEN_OFFSETS = [0, 32 * 1024 * 1024];
const MAGIC = 'FAKE-QEMU-MAPPED-RAM ';

function argAfter(argv: string[], flag: string): string | undefined {
  const index = argv.indexOf(flag);
  return index === -1 ? undefined : argv[index + 1];
}

function main(argv: string[]): void {
  const behaviourFile = argAfter(argv, '-fake-behaviour');
  const qmpSocket = /^unix:([^,]+)/.exec(argAfter(argv, '-qmp') ?? '')?.[1];
  const pidFile = argAfter(argv, '-pidfile');
  if (!behaviourFile || !qmpSocket) throw new Error('usage: fake-qemu -fake-behaviour FILE -qmp unix:PATH,… [-pidfile FILE] [-incoming defer]');
  const behaviour = (): FakeQemuBehaviour => JSON.parse(fs.readFileSync(behaviourFile, 'utf8')) as FakeQemuBehaviour;
  const log = (entry: unknown) => fs.appendFileSync(`${behaviourFile}.log`, `${JSON.stringify(entry)}\n`);

  let status = argAfter(argv, '-incoming') === 'defer' ? 'inmigrate' : 'running';
  let migration: string | undefined;
  let migrationError: string | undefined;
  const capabilities = new Map<string, boolean>([['events', false], ['mapped-ram', false]]);
  const clients = new Set<net.Socket>();
  // The guest's state: new at a cold start, the saved one after a restore.
  let token: string = randomUUID();

  const emit = (event: string, data: Record<string, unknown> = {}) => {
    const now = Date.now();
    const line = `${JSON.stringify({ event, data, timestamp: { seconds: Math.floor(now / 1000), microseconds: (now % 1000) * 1000 } })}\r\n`;
    for (const client of clients) client.write(line);
  };
  const setMigration = (state: string, error?: string) => {
    migration = state;
    migrationError = error;
    if (capabilities.get('events')) emit('MIGRATION', { status: state });
  };

  const commands: Record<string, (args: Record<string, unknown>) => unknown> = {
    qmp_capabilities: () => ({}),
    'query-status': () => ({ status, running: status === 'running' }),
    stop: () => {
      if (status === 'running') {
        status = 'paused';
        emit('STOP');
      }
      return {};
    },
    cont: () => {
      if (status === 'inmigrate') throw new Error('cannot continue during an incoming migration');
      status = 'running';
      emit('RESUME');
      return {};
    },
    'query-migrate-capabilities': () => [
      { capability: 'events', state: capabilities.get('events')! },
      ...(behaviour().mappedRam ? [{ capability: 'mapped-ram', state: capabilities.get('mapped-ram')! }] : []),
    ],
    'migrate-set-capabilities': (args) => {
      for (const { capability, state } of args.capabilities as { capability: string; state: boolean }[]) {
        if (capability === 'mapped-ram' && !behaviour().mappedRam) throw new Error(`Capability '${capability}' not found`);
        capabilities.set(capability, state);
      }
      return {};
    },
    'migrate-set-parameters': () => ({}),
    'query-migrate': () => ({ ...(migration ? { status: migration } : {}), ...(migrationError ? { 'error-desc': migrationError } : {}) }),
    migrate: (args) => {
      const file = /^file:(.+)$/.exec(String(args.uri))?.[1];
      if (!file || !capabilities.get('mapped-ram')) throw new Error(`this double migrates only to file: with mapped-ram (got ${String(args.uri)})`);
      setMigration('active');
      // Like QEMU's mapped-ram: the file spans the guest's RAM at fixed offsets, its zero pages left as holes.
      const fd = fs.openSync(file, 'r+');
      fs.ftruncateSync(fd, behaviour().ramBytes);
      for (const offset of TOKEN_OFFSETS) fs.writeSync(fd, Buffer.from(`${MAGIC}${token}\n`.padEnd(4096, '\0')), 0, 4096, offset);
      fs.closeSync(fd);
      status = 'postmigrate';
      setImmediate(() => setMigration('completed'));
      return {};
    },
    'migrate-incoming': (args) => {
      if (status !== 'inmigrate') throw new Error('not started with -incoming defer');
      const file = /^file:(.+)$/.exec(String(args.uri))?.[1];
      if (!file) throw new Error(`this double reads only file: (got ${String(args.uri)})`);
      setMigration('active');
      setImmediate(() => {
        const head = fs.readFileSync(file).subarray(0, 4096).toString('utf8');
        if (!capabilities.get('mapped-ram') || !head.startsWith(MAGIC)) {
          setMigration('failed', 'the image is not a mapped-ram stream this QEMU was told to read');
          setImmediate(() => process.exit(1)); // as QEMU does when an incoming migration fails
          return;
        }
        token = head.slice(MAGIC.length, head.indexOf('\n'));
        log({ restoredToken: token });
        status = 'paused'; // the saved guest was paused
        setMigration('completed');
      });
      return {};
    },
    quit: () => {
      setImmediate(() => process.exit(0));
      return {};
    },
  };

  fs.rmSync(qmpSocket, { force: true });
  const server = net.createServer((socket) => {
    clients.add(socket);
    socket.on('close', () => clients.delete(socket));
    socket.on('error', () => {});
    socket.write(`${JSON.stringify({ QMP: { version: { qemu: { major: 10, minor: 0, micro: 0 }, package: 'fake-qemu' }, capabilities: ['oob'] } })}\r\n`);
    let buffer = '';
    socket.on('data', (chunk) => {
      buffer += chunk.toString('utf8');
      for (let nl = buffer.indexOf('\n'); nl !== -1; nl = buffer.indexOf('\n')) {
        const line = buffer.slice(0, nl).trim();
        buffer = buffer.slice(nl + 1);
        if (!line) continue;
        const request = JSON.parse(line) as { execute: string; arguments?: Record<string, unknown>; id?: unknown };
        log({ execute: request.execute, arguments: request.arguments ?? {} });
        const id = request.id === undefined ? {} : { id: request.id };
        const handler = commands[request.execute];
        let reply: unknown;
        try {
          if (!handler) throw new Error(`The command ${request.execute} has not been found`);
          reply = { return: handler(request.arguments ?? {}), ...id };
        } catch (error) {
          reply = { error: { class: 'GenericError', desc: errorMessage(error) }, ...id };
        }
        socket.write(`${JSON.stringify(reply)}\r\n`);
      }
    });
  });
  server.listen(qmpSocket, () => {
    if (pidFile) fs.writeFileSync(pidFile, `${process.pid}\n`);
    log({ started: { incoming: status === 'inmigrate', token } });
  });
  process.on('SIGTERM', () => process.exit(0));
}

if (process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href) main(process.argv.slice(2));
