/**
 * Run inside a network namespace the ygg test makes (`unshare -n`): gives lo
 * a Yggdrasil address (so the kernel routes 200::/7 directly, as Yggdrasil's
 * interface does), serves a bare git repository over dumb http on
 * [ADDRESS]:80, runs the hiboss CLI, and prints what happened as JSON.
 * Nothing leaves the namespace.
 *
 *   unshare -n node ygg-netns.js '{"address","served","urlPath","args"}'
 */
import { execa } from 'execa';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { HIBOSS } from './market.js';

const { address, served, urlPath, args } = JSON.parse(process.argv[2]!) as { address: string; served: string; urlPath: string; args: string[] };
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
const result = await execa(process.execPath, [HIBOSS, ...args], { reject: false, stdin: 'ignore' });
server.close();
console.log(JSON.stringify({ code: result.exitCode, stdout: String(result.stdout), stderr: String(result.stderr), requests }));
process.exit(0);
