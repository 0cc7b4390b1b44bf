/**
 * Handing an open file descriptor to the peer of a unix socket (SCM_RIGHTS):
 * what QMP's `getfd` needs, so that QEMU writes a memory image itself into a
 * file the daemon opened (temporary name, 0600), with no shell and no process
 * in between.
 *
 * Node's public net.Socket cannot send descriptors; libuv can, on a pipe opened
 * in IPC mode (`uv_write2`, the very call Node's child_process uses to send
 * handles to a child). Node exposes that pipe only through its internal
 * `pipe_wrap`/`stream_wrap` bindings (`process.binding`): no native addon, no
 * compiler, but internals. They are looked up once; where they are missing or
 * differ (another Node), `fdPassingSocket` returns null and callers fall back
 * to a path that needs no descriptor passing (the save's stream through a
 * socket the daemon listens on). A socket from here reads and writes like any
 * other (libuv's IPC mode changes only how descriptors travel).
 */
import net from 'node:net';

interface PipeHandle {
  open(fd: number): number;
  close(callback?: () => void): void;
  writeUtf8String(req: WriteRequest, text: string, handle?: PipeHandle): number;
}
interface WriteRequest {
  handle: unknown;
  oncomplete: (status: number) => void;
  async: boolean;
}
interface Internals {
  Pipe: new (type: number) => PipeHandle;
  WriteWrap: new () => WriteRequest;
  IPC: number;
  SOCKET: number;
}

let internals: Internals | null | undefined;

function lookUp(): Internals | null {
  if (internals !== undefined) return internals;
  internals = null;
  try {
    const binding = (process as unknown as { binding(name: string): Record<string, unknown> }).binding;
    const pipeWrap = binding('pipe_wrap') as { Pipe?: Internals['Pipe']; constants?: { IPC?: number; SOCKET?: number } };
    const streamWrap = binding('stream_wrap') as { WriteWrap?: Internals['WriteWrap'] };
    const { Pipe } = pipeWrap;
    const { WriteWrap } = streamWrap;
    const IPC = pipeWrap.constants?.IPC;
    const SOCKET = pipeWrap.constants?.SOCKET;
    if (typeof Pipe === 'function' && typeof WriteWrap === 'function' && typeof IPC === 'number' && typeof SOCKET === 'number') {
      internals = { Pipe, WriteWrap, IPC, SOCKET };
    }
  } catch {
    internals = null;
  }
  return internals;
}

/** A not yet connected unix socket that can pass descriptors (connect it with `.connect(path)`), or null. */
export function fdPassingSocket(): net.Socket | null {
  const found = lookUp();
  if (!found) return null;
  try {
    return new net.Socket({ handle: new found.Pipe(found.IPC) as unknown as undefined, manualStart: true } as net.SocketConstructorOpts);
  } catch {
    return null;
  }
}

/**
 * Writes `text` with `fd` attached (one sendmsg: the peer receives the descriptor with these
 * bytes). `fd` is consumed: closed here once sent (the peer has its own copy), or on failure.
 */
export function writeWithFd(socket: net.Socket, text: string, fd: number): Promise<void> {
  const found = lookUp();
  const stream = (socket as unknown as { _handle?: PipeHandle })._handle;
  if (!found || !stream) throw new Error('this socket cannot pass descriptors');
  const carrier = new found.Pipe(found.SOCKET);
  const opened = carrier.open(fd);
  if (opened !== 0) throw new Error(`cannot wrap descriptor ${fd} (libuv error ${opened})`);
  return new Promise((resolve, reject) => {
    const request = new found.WriteWrap();
    request.handle = stream;
    request.async = false;
    request.oncomplete = (status) => {
      carrier.close();
      if (status < 0) reject(new Error(`sending the descriptor failed (libuv error ${status})`));
      else resolve();
    };
    const status = stream.writeUtf8String(request, text, carrier);
    if (status < 0) {
      carrier.close();
      reject(new Error(`sending the descriptor failed (libuv error ${status})`));
    } else if (!request.async) {
      carrier.close();
      resolve();
    }
  });
}
