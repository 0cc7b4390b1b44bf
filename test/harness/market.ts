/**
 * The market's test fixtures, all real: SSH keys made by ssh-keygen, network
 * checkouts committed with git, catalogue repositories, the hiboss CLI run as
 * a member would, an http server on 127.0.0.1 for catalogues, and an IPFS
 * gateway stand-in serving CARs the test built (GET /ipfs/CID?format=car).
 */
import { execa } from 'execa';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AddressInfo } from 'node:net';
import { writeNetwork } from '../../networks/index.js';
import { start } from './processes.js';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
export const HIBOSS = path.join(REPO, 'bin', 'hiboss');

export const GIT_ID = { GIT_AUTHOR_NAME: 'test', GIT_AUTHOR_EMAIL: 'test@example.invalid', GIT_COMMITTER_NAME: 'test', GIT_COMMITTER_EMAIL: 'test@example.invalid' };

export async function git(dir: string, ...args: string[]): Promise<string> {
  const result = await execa('git', ['-C', dir, ...args], { env: { ...GIT_ID, GIT_CONFIG_NOSYSTEM: '1', HOME: dir }, stdin: 'ignore' });
  return String(result.stdout).trim();
}

/** A git repository at `dir` with `files` committed; returns the commit. */
export async function commitFiles(dir: string, files: Record<string, string>, message = 'test'): Promise<string> {
  fs.mkdirSync(dir, { recursive: true });
  if (!fs.existsSync(path.join(dir, '.git'))) await git(dir, 'init', '--quiet', '--initial-branch=main');
  for (const [name, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
    fs.writeFileSync(path.join(dir, name), text);
  }
  await git(dir, 'add', '--all');
  await git(dir, 'commit', '--quiet', '--allow-empty', '-m', message);
  return git(dir, 'rev-parse', 'HEAD');
}

/** A publisher's ed25519 key pair and an allowed_signers file naming it for `principal`. */
export async function makePublisher(dir: string, principal: string): Promise<{ key: string; allowedSigners: string; principal: string }> {
  fs.mkdirSync(dir, { recursive: true });
  const key = path.join(dir, 'publisher');
  await execa('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', principal, '-f', key], { stdin: 'ignore' });
  const allowedSigners = path.join(dir, 'allowed_signers');
  const pub = fs.readFileSync(`${key}.pub`, 'utf8').trim().split(' ').slice(0, 2).join(' ');
  fs.writeFileSync(allowedSigners, `${principal} namespaces="hiboss-market" ${pub}\n`);
  return { key, allowedSigners, principal };
}

/** A network checkout (configs.json + flake.nix, as the wizard writes them) committed with git. */
export async function makeNetwork(parent: string, name: string, configs: Record<string, unknown>, description?: string): Promise<{ dir: string; revision: string }> {
  const written = await writeNetwork({ dir: parent, name, configs });
  if (description) {
    const flake = fs.readFileSync(written.flakePath, 'utf8');
    fs.writeFileSync(written.flakePath, flake.replace(/description = "[^"]*";/, `description = ${JSON.stringify(description)};`));
  }
  const revision = await commitFiles(written.path, {});
  return { dir: written.path, revision };
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export async function hiboss(env: NodeJS.ProcessEnv, args: string[], input?: string): Promise<CliResult> {
  const proc = start(process.execPath, [HIBOSS, ...args], { env, extendEnv: false, stdout: 'pipe', stderr: 'pipe', ...(input === undefined ? {} : { input }) });
  const result = await proc.child;
  return { code: result.exitCode ?? -1, stdout: String(result.stdout), stderr: String(result.stderr) };
}

/** `hiboss market publish`'s entry (JSON on stdout), or the failure. */
export async function publish(env: NodeJS.ProcessEnv, args: string[]): Promise<{ entry: Record<string, unknown>; signature: string; stderr: string }> {
  const result = await hiboss(env, ['market', 'publish', ...args]);
  if (result.code !== 0) throw new Error(`hiboss market publish failed (${result.code}): ${result.stderr}`);
  return { ...(JSON.parse(result.stdout) as { entry: Record<string, unknown>; signature: string }), stderr: result.stderr };
}

/**
 * Publishes a network whose primary flake is on IPFS: packed first (its CID
 * is the tree's), the CAR given to the gateway stand-in's `cars`, then the
 * entry signed with flake nix://ipfs-CID#NAME. A catalogue entry never names a
 * local path, and tests reach nothing beyond 127.0.0.1.
 */
export async function publishOnIpfs(env: NodeJS.ProcessEnv, dir: string, name: string, args: string[], cars: Map<string, Uint8Array>): Promise<{ entry: Record<string, unknown>; signature: string; cid: string }> {
  const carFile = `${dir}.car`;
  const packed = await publish(env, [dir, ...args, '--flake', `nix://github/placeholder/net#${name}`, '--ipfs', carFile]);
  const cid = /CID (\S+) /.exec(packed.stderr)?.[1];
  if (!cid) throw new Error(`publish --ipfs printed no CID: ${packed.stderr}`);
  cars.set(cid, fs.readFileSync(carFile));
  const { entry, signature } = await publish(env, [dir, ...args, '--flake', `nix://ipfs-${cid}#${name}`]);
  return { entry, signature, cid };
}

export interface StandIn {
  url: string;
  /** Requests seen, path and query. */
  requests: string[];
  close(): Promise<void>;
}

/** An http server on 127.0.0.1 answering each request with `handle` (which may leave it open). */
export async function serve(handle: (req: http.IncomingMessage, res: http.ServerResponse) => void): Promise<StandIn> {
  const requests: string[] = [];
  const sockets = new Set<import('node:net').Socket>();
  const server = http.createServer((req, res) => {
    requests.push(req.url ?? '');
    handle(req, res);
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

/**
 * An IPFS gateway stand-in: serves the CARs it holds at /ipfs/CID?format=car;
 * a CID it lacks is searched for forever (the request stays open, as a real
 * gateway looking for providers does), so the client's own deadline must end it.
 */
export async function ipfsGateway(cars: Map<string, Uint8Array>): Promise<StandIn> {
  return serve((req, res) => {
    const match = /^\/ipfs\/([A-Za-z0-9]+)\?format=car$/.exec(req.url ?? '');
    if (!match) {
      res.writeHead(400).end('bad request');
      return;
    }
    const car = cars.get(match[1]!);
    if (!car) return; // left open
    res.writeHead(200, { 'content-type': 'application/vnd.ipld.car' }).end(Buffer.from(car));
  });
}

/** A member's config.json with the market section given. */
export function writeMemberConfig(file: string, market: unknown, vms: Record<string, unknown> = {}): void {
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  fs.writeFileSync(file, JSON.stringify({ vms, market }, null, 2), { mode: 0o600 });
}

export const CONFIGS_ACME = {
  acme: { system: 'x86_64-linux', adminMode: 'local', networkLayer: 'yggdrasil', applications: { syncthing: { enable: true, sharedFolders: ['/shared/docs'] }, mumbleServer: { enable: true } } },
};
export const CONFIGS_OFFICE = {
  office: { system: 'x86_64-linux', adminMode: 'local', networkLayer: 'wireguard', wireguard: { address: '10.7.0.2/24' }, applications: { nextcloud: { enable: true } } },
};
