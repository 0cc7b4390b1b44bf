/**
 * nix://ipfs-CID: the flake's source from the member's IPFS gateway as a CAR
 * (`/ipfs/CID?format=car`, the trustless gateway form), verified here before
 * anything is written: the CAR's root must be the CID, every block must hash
 * to its own CID (multiformats' hashers), and the UnixFS tree is walked from
 * the root through verified blocks only (ipfs-unixfs-exporter). It is
 * unpacked into a temporary directory beside its destination and renamed into
 * place only when complete: a bad CAR leaves nothing behind.
 */
import { CarReader } from '@ipld/car';
import { CID } from 'multiformats/cid';
import { identity } from 'multiformats/hashes/identity';
import { sha256 } from 'multiformats/hashes/sha2';
import { exporter, type UnixFSEntry } from 'ipfs-unixfs-exporter';
import fs from 'node:fs';
import path from 'node:path';
import { boundedGet, FetchError } from './catalogue-fetch.js';
import { privateDirSync } from './paths.js';

export const MAX_CAR_BYTES = 256 * 1024 * 1024;
export const IPFS_TIMEOUT_MS = 60_000;
const MAX_FILES = 100_000;
const MAX_DEPTH = 64;
const DAG_PB = 0x70;
const RAW = 0x55;

export class IpfsError extends Error {
  override name = 'IpfsError';
}

/** Parses a CID as text; the error says what is wrong with it. */
export function parseCid(text: string): CID {
  try {
    return CID.parse(text);
  } catch (error) {
    throw new IpfsError(`"${text.slice(0, 80)}" is not a CID: ${(error as Error).message}`);
  }
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((byte, i) => byte === b[i]);
}

/** Every block of the CAR, each checked against its CID; the root must be `root`. */
export async function verifiedBlocks(car: Uint8Array, root: CID): Promise<Map<string, Uint8Array>> {
  let reader: CarReader;
  try {
    reader = await CarReader.fromBytes(car);
  } catch (error) {
    throw new IpfsError(`not a CAR file: ${(error as Error).message}`);
  }
  const roots = await reader.getRoots();
  if (!roots.some((r) => r.equals(root))) throw new IpfsError(`the CAR's root is ${roots.map(String).join(', ') || 'missing'}, not ${root}`);
  const blocks = new Map<string, Uint8Array>();
  for await (const { cid, bytes } of reader.blocks()) {
    if (cid.code !== DAG_PB && cid.code !== RAW) throw new IpfsError(`block ${cid} is not UnixFS (codec 0x${cid.code.toString(16)})`);
    const code = cid.multihash.code;
    const hasher = code === sha256.code ? sha256 : code === identity.code ? identity : null;
    if (!hasher) throw new IpfsError(`block ${cid} uses hash 0x${code.toString(16)}, which hiboss does not check`);
    const digest = await hasher.digest(bytes);
    if (!equalBytes(digest.digest, cid.multihash.digest)) throw new IpfsError(`block ${cid} does not hash to its CID: the CAR was altered or corrupted`);
    blocks.set(cid.toString(), bytes);
  }
  return blocks;
}

/** A read-only blockstore over verified blocks: a block the CAR lacks is an error, never a network fetch. */
function blockstoreOf(blocks: Map<string, Uint8Array>) {
  return {
    *get(cid: CID): Generator<Uint8Array> {
      const bytes = blocks.get(cid.toString());
      if (!bytes) throw new IpfsError(`the CAR lacks block ${cid}`);
      yield bytes;
    },
  };
}

const SAFE_NAME = /^(?!\.{1,2}$)[^/\u0000-\u001f\u007f-\u009f]{1,255}$/;

async function writeTree(entry: UnixFSEntry, dir: string, store: ReturnType<typeof blockstoreOf>, budget: { files: number; bytes: number }, depth: number): Promise<void> {
  if (depth > MAX_DEPTH) throw new IpfsError(`the tree is deeper than ${MAX_DEPTH} directories`);
  if (entry.type !== 'directory') throw new IpfsError(`${entry.path} is a ${entry.type}, not a directory`);
  fs.mkdirSync(dir, { mode: 0o755 });
  for await (const child of entry.entries()) {
    if (!SAFE_NAME.test(child.name)) throw new IpfsError(`the tree holds an unsafe name ${JSON.stringify(child.name.slice(0, 80))}`);
    if (++budget.files > MAX_FILES) throw new IpfsError(`the tree holds more than ${MAX_FILES} files`);
    const target = path.join(dir, child.name);
    const node = await exporter(child.cid, store);
    if (node.type === 'directory') {
      await writeTree(node, target, store, budget, depth + 1);
    } else if (node.type === 'file' || node.type === 'raw' || node.type === 'identity') {
      const mode = node.type === 'file' && node.unixfs.mode !== undefined && (node.unixfs.mode & 0o111) !== 0 ? 0o755 : 0o644;
      const fd = fs.openSync(target, 'wx', mode);
      try {
        for await (const chunk of node.content()) {
          budget.bytes += chunk.length;
          if (budget.bytes > MAX_CAR_BYTES) throw new IpfsError(`the tree unpacks to more than ${MAX_CAR_BYTES} bytes`);
          fs.writeSync(fd, chunk);
        }
      } finally {
        fs.closeSync(fd);
      }
      fs.chmodSync(target, mode); // the umask must not decide the executable bit (it is part of the NAR hash)
    } else {
      throw new IpfsError(`${child.name} is a ${(node as { type: string }).type}; a flake's source holds files and directories only`);
    }
  }
}

/**
 * Verifies `car` against `cid` and unpacks it into `dest` (which must not exist
 * yet): all or nothing.
 */
export async function unpackVerified(car: Uint8Array, cid: CID, dest: string): Promise<void> {
  const blocks = await verifiedBlocks(car, cid);
  const store = blockstoreOf(blocks);
  const temp = `${dest}.partial-${process.pid}`;
  fs.rmSync(temp, { recursive: true, force: true });
  try {
    const root = await exporter(cid, store);
    await writeTree(root, temp, store, { files: 0, bytes: 0 }, 0);
    fs.renameSync(temp, dest);
  } catch (error) {
    fs.rmSync(temp, { recursive: true, force: true });
    if (error instanceof IpfsError) throw error;
    throw new IpfsError(`cannot unpack ${cid}: ${(error as Error).message}`);
  }
}

export interface IpfsFetchOptions {
  gateway: string;
  /** Where fetched trees live: DIR/ipfs/CID. */
  fetchedRoot: string;
  timeoutMs?: number;
}

/**
 * The directory holding `cid`'s tree, fetched and verified now (or verified
 * before: a tree already unpacked under its CID was verified when it was).
 */
export async function fetchIpfsTree(cidText: string, options: IpfsFetchOptions): Promise<{ dir: string; cid: CID; fetched: boolean }> {
  const cid = parseCid(cidText);
  const root = privateDirSync(path.join(options.fetchedRoot, 'ipfs'));
  const dest = path.join(root, cid.toV1().toString());
  if (fs.existsSync(dest)) return { dir: dest, cid, fetched: false };
  const url = `${options.gateway.replace(/\/$/, '')}/ipfs/${cid.toString()}?format=car`;
  const timeoutMs = options.timeoutMs ?? IPFS_TIMEOUT_MS;
  let got;
  try {
    got = await boundedGet(url, MAX_CAR_BYTES, timeoutMs, { accept: 'application/vnd.ipld.car' });
  } catch (error) {
    if (error instanceof FetchError) throw new IpfsError(`the IPFS gateway ${options.gateway} did not deliver ${cid}: ${error.message}`);
    throw error;
  }
  if (got.status === 404) throw new IpfsError(`the IPFS gateway ${options.gateway} does not have ${cid} (HTTP 404)`);
  if (got.status !== 200) throw new IpfsError(`the IPFS gateway ${options.gateway} answered HTTP ${got.status} for ${cid}`);
  await unpackVerified(got.body, cid, dest);
  return { dir: dest, cid, fetched: true };
}
