/**
 * `hiboss demo`: for a machine with no sway/i3 session. Brings up headless sway,
 * a private session bus, the daemon and two small VMs, then switches workspaces
 * and shows what the daemon does. Everything lives in a private temp dir and is
 * ended by pid when the demo ends.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { DaemonClient } from '../../api/client.js';
import { STATE_GLYPHS } from '../../api/states.js';
import { WmClient } from '../../wm-ipc/client.js';
import { integerFlag, parseArgs, UsageError, type Verb } from '../args.js';
import { errorMessage } from '../../shared/error-message.js';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

export const demoVerb: Verb = {
  usage: `usage: hiboss demo [--switches N]

Starts headless sway (WLR_BACKENDS=headless), a private D-Bus session bus, the hiboss daemon and
two small VMs ("family" on workspace 1, "acme" on workspace 2), switches between the workspaces
N times (default 4) and shows each VM starting, pausing and resuming. Needs sway, dbus-daemon
and qemu-system-x86_64. Uses the test guest from .cache/guest when it was built
(node dist/test/harness/guest.js), else bare QEMUs.`,
  async run(argv) {
    const { flags, positional } = parseArgs(argv, { valued: ['switches'] });
    if (positional.length) throw new UsageError(`unexpected argument "${positional[0]}"`);
    const switches = integerFlag(flags, 'switches', 4, 1, 1000);
    const demo = new Demo();
    const onSignal = () => {
      demo.end();
      process.exit(130);
    };
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    try {
      await demo.run(switches);
      return 0;
    } catch (error) {
      console.error(`hiboss demo: ${errorMessage(error)}`);
      return 1;
    } finally {
      demo.end();
    }
  },
};

function say(text: string): void {
  process.stdout.write(`${text}\n`);
}

function waitFor<T>(what: string, timeoutMs: number, check: () => T | undefined, dir: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const watcher = fs.watch(dir);
    const done = (error?: Error, value?: T) => {
      clearTimeout(timer);
      watcher.close();
      error ? reject(error) : resolve(value!);
    };
    const timer = setTimeout(() => done(new Error(`${what} did not appear within ${timeoutMs} ms`)), timeoutMs);
    const poke = () => {
      const value = check();
      if (value !== undefined) done(undefined, value);
    };
    watcher.on('change', poke);
    poke();
  });
}

class Demo {
  #root = fs.mkdtempSync(path.join(os.tmpdir(), 'hiboss-demo-'));
  #children: ChildProcess[] = [];
  #busPid: number | undefined;
  #client: DaemonClient | undefined;
  #wm: WmClient | undefined;
  #ended = false;

  async run(switches: number): Promise<void> {
    const runtimeDir = path.join(this.#root, 'run');
    fs.mkdirSync(runtimeDir, { mode: 0o700 });
    const env: NodeJS.ProcessEnv = { ...process.env, XDG_RUNTIME_DIR: runtimeDir, XDG_CONFIG_HOME: path.join(this.#root, 'config'), XDG_STATE_HOME: path.join(this.#root, 'state') };
    for (const name of ['SWAYSOCK', 'I3SOCK', 'WAYLAND_DISPLAY', 'DISPLAY', 'DBUS_SESSION_BUS_ADDRESS']) delete env[name];

    say(`demo dir: ${this.#root}`);
    const [address, pid] = execFileSync('dbus-daemon', ['--session', '--fork', '--print-address=1', '--print-pid=1'], { env, encoding: 'utf8' }).trim().split('\n');
    this.#busPid = Number(pid);
    env.DBUS_SESSION_BUS_ADDRESS = address;
    say('started a private session bus');

    const swayConf = path.join(this.#root, 'sway.conf');
    fs.writeFileSync(swayConf, 'output HEADLESS-1 resolution 1280x720\nxwayland disable\n');
    const swayEnv = { ...env, WLR_BACKENDS: 'headless', WLR_RENDERER: 'pixman', WLR_LIBINPUT_NO_DEVICES: '1' };
    // sway refuses to run as root: a user namespace maps us to an ordinary uid.
    const [file, args] = process.getuid?.() === 0 ? ['unshare', ['-U', '--map-user=1000', '--map-group=1000', 'sway', '-c', swayConf]] as const : ['sway', ['-c', swayConf]] as const;
    const swayLog = fs.openSync(path.join(this.#root, 'sway.log'), 'a');
    this.#spawn(file, [...args], swayEnv, swayLog);
    env.SWAYSOCK = await waitFor('the sway socket', 15_000, () => {
      const sock = fs.readdirSync(runtimeDir).find((f) => /^sway-ipc\..*\.sock$/.test(f));
      return sock ? path.join(runtimeDir, sock) : undefined;
    }, runtimeDir);
    say(`started headless sway (${env.SWAYSOCK})`);

    const guest = { kernel: path.join(REPO, '.cache/guest/vmlinuz'), initrd: path.join(REPO, '.cache/guest/initrd.gz') };
    const useGuest = fs.existsSync(guest.kernel) && fs.existsSync(guest.initrd);
    const qemu = (name: string) => [
      'qemu-system-x86_64', '-M', 'q35', '-m', useGuest ? '128' : '64', '-nodefaults', '-display', 'none', '-nic', 'none',
      ...(useGuest ? ['-kernel', guest.kernel, '-initrd', guest.initrd, '-append', 'console=ttyS0 quiet', '-serial', `file:${path.join(this.#root, `${name}.serial`)}`] : []),
    ];
    const configPath = path.join(this.#root, 'config', 'hiboss', 'config.json');
    fs.mkdirSync(path.dirname(configPath), { recursive: true });
    fs.writeFileSync(configPath, JSON.stringify({ vms: { family: { workspace: '1', qemu: qemu('family') }, acme: { workspace: '2', qemu: qemu('acme') } }, policy: { pauseAfterMs: 800 } }, null, 2));
    say(`config: two VMs (${useGuest ? 'the test guest' : 'bare QEMUs'}), family → workspace 1, acme → workspace 2, pause after 800 ms`);

    const daemon = this.#spawn(process.execPath, [path.join(REPO, 'bin', 'hiboss'), 'daemon', '--config', configPath], env, 'pipe');
    daemon.stderr!.on('data', (chunk: Buffer) => {
      for (const line of chunk.toString().split('\n').filter(Boolean)) say(`  daemon | ${line}`);
    });
    this.#client = await this.#connectDaemon(address!);
    this.#client.on('state', ({ name, state, reason }) => say(`  ${STATE_GLYPHS[state]} ${name.padEnd(7)} ${state} — ${reason}`));
    this.#wm = await WmClient.connect({ socketPath: env.SWAYSOCK });

    for (let i = 0; i < switches; i++) {
      const workspace = i % 2 === 0 ? '1' : '2';
      const vm = workspace === '1' ? 'family' : 'acme';
      say(`\n> swaymsg workspace ${workspace}`);
      await this.#wm.command(`workspace ${workspace}`);
      await this.#until(vm, 'running', 60_000);
      await this.#until(vm === 'family' ? 'acme' : 'family', 'paused', 10_000, ['stopped']);
    }
    const status = await this.#client.status();
    say('\nhiboss status:');
    for (const vm of status.vms) {
      say(`  ${vm.name.padEnd(7)} ${vm.state.padEnd(8)} workspace ${vm.workspace}  cold boot ${vm.lastColdBootMs ?? '-'} ms  last resume ${vm.lastResumeMs === null ? '-' : vm.lastResumeMs.toFixed(2)} ms`);
    }
  }

  /** Resolves once `name` is in `state` (or already was), or in one of `orElse`. */
  async #until(name: string, state: string, timeoutMs: number, orElse: string[] = []): Promise<void> {
    const client = this.#client!;
    const waiting = client.waitForState(name, (c) => c.state === state || orElse.includes(c.state), timeoutMs);
    waiting.catch(() => {});
    const now = (await client.status()).vms.find((v) => v.name === name)?.state;
    if (now === state || (now !== undefined && orElse.includes(now))) return;
    await waiting;
  }

  async #connectDaemon(address: string): Promise<DaemonClient> {
    for (let attempt = 0; attempt < 100; attempt++) {
      try {
        return await DaemonClient.connect({ busAddress: address, requireDaemon: true });
      } catch {
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
    throw new Error('the daemon did not come up (see its lines above)');
  }

  #spawn(file: string, args: string[], env: NodeJS.ProcessEnv, out: number | 'pipe'): ChildProcess {
    const child = spawn(file, args, { env, stdio: ['ignore', out, out], detached: true });
    child.on('error', (error) => say(`cannot run ${file}: ${error.message}`));
    this.#children.push(child);
    return child;
  }

  end(): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#client?.close();
    this.#wm?.close();
    // QEMUs run in sessions of their own (they outlive a daemon): end the ones in our dir.
    for (const entry of fs.readdirSync('/proc').filter((e) => /^\d+$/.test(e))) {
      try {
        if (fs.readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes(this.#root)) process.kill(Number(entry), 'SIGKILL');
      } catch {
        /* gone */
      }
    }
    for (const child of this.#children) {
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
    if (this.#busPid) {
      try {
        process.kill(this.#busPid, 'SIGTERM');
      } catch {
        /* gone */
      }
    }
    fs.rmSync(this.#root, { recursive: true, force: true });
  }
}
