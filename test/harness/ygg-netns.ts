/**
 * Run inside a network namespace the ygg test makes (`unshare -n`): gives lo
 * a Yggdrasil address (so the kernel routes 200::/7 directly, as Yggdrasil's
 * interface does), serves a bare git repository over dumb http on
 * [ADDRESS]:80, runs the hiboss CLI, and prints what happened as JSON.
 * Nothing leaves the namespace. With `daemonPath`, the real daemon runs there too
 * (on a private session bus, its PATH that one — the stand-in nix first): an
 * update's fetch is the daemon's. With no WM it serves its API while it waits
 * for one, which is all an update needs.
 *
 *   unshare -n node ygg-netns.js '{"address","served","urlPath","args","daemonPath"?}'
 */
import { execa } from 'execa';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { startSessionBus, type RunningBus } from './dbus.js';
import { HIBOSS } from './market.js';
import { start, type Started } from './processes.js';

const { address, served, urlPath, args, daemonPath } = JSON.parse(process.argv[2]!) as { address: string; served: string; urlPath: string; args: string[]; daemonPath?: string };
await execa('ip', ['link', 'set', 'lo', 'up']);
await execa('ip', ['-6', 'addr', 'add', `${address}/7`, 'dev', 'lo', 'nodad']);
const requests: string[] = [];
const server = http.createServer((req, res) => {
  requests.push(req.url ?? '');
  const wanted = (req.url ?? '').split('?')[0]!;
  if (!wanted.startsWith(`/${urlPath}/`)) return void res.writeHead(404).end();
  const file = path.join(served, path.normalize(wanted.slice(urlPath.length + 2)));
  if (!file.startsWith(served) || !fs.existsSync(file) || !fs.statSync(file).isFile()) return void res.writeHead(404).end();
  res.writeHead(200).end(fs.readFileSync(file));
});
await new Promise<void>((resolve) => server.listen(80, address, resolve));
let bus: RunningBus | undefined;
let daemon: Started | undefined;
const env: NodeJS.ProcessEnv = { ...process.env };
if (daemonPath !== undefined) {
  bus = await startSessionBus(process.env);
  env.DBUS_SESSION_BUS_ADDRESS = bus.address;
  daemon = start(process.execPath, [HIBOSS, 'daemon'], { env: { ...env, PATH: daemonPath }, extendEnv: false, stdout: 'ignore', stderr: 'pipe' });
  // Logged once its API is on the bus, as it starts waiting for sway or i3.
  let log = '';
  await new Promise<void>((resolve, reject) => {
    daemon!.child.stderr!.on('data', (chunk: Buffer) => {
      log += chunk.toString();
      if (log.includes('waiting for sway or i3')) resolve();
    });
    void daemon!.exited.then(() => reject(new Error(`the daemon exited at start:\n${log}`)));
  });
}
const result = await execa(process.execPath, [HIBOSS, ...args], { env, extendEnv: false, reject: false, stdin: 'ignore' });
await daemon?.stop();
bus?.stop();
server.close();
console.log(JSON.stringify({ code: result.exitCode, stdout: String(result.stdout), stderr: String(result.stderr), requests }));
process.exit(0);
