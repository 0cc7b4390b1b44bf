/**
 * Packing a flake's source tree as a CAR (UnixFS, CIDv1, raw leaves) with the
 * JS IPFS libraries: what `hiboss market publish --ipfs` writes and a test's
 * gateway serves. Executable bits go into the UnixFS mode (the NAR hash
 * counts them); nothing else about the files is kept.
 */
import { CarWriter } from '@ipld/car';
import { importer, type ImportCandidate } from 'ipfs-unixfs-importer';
import type { CID } from 'multiformats/cid';
import fs from 'node:fs';
import path from 'node:path';

class MemoryBlocks {
  readonly blocks = new Map<string, { cid: CID; bytes: Uint8Array }>();
  async put(cid: CID, bytes: Uint8Array | Iterable<Uint8Array> | AsyncIterable<Uint8Array>): Promise<CID> {
    const parts: Uint8Array[] = [];
    if (bytes instanceof Uint8Array) parts.push(bytes);
    else for await (const part of bytes) parts.push(part);
    this.blocks.set(cid.toString(), { cid, bytes: Buffer.concat(parts) });
    return cid;
  }
}

function candidates(root: string): ImportCandidate[] {
  const out: ImportCandidate[] = [];
  const walk = (rel: string) => {
    for (const entry of fs.readdirSync(path.join(root, rel), { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const childRel = rel ? `${rel}/${entry.name}` : entry.name;
      const full = path.join(root, childRel);
      if (entry.isDirectory()) {
        // An empty directory is an entry of its own; others come with their files.
        if (fs.readdirSync(full).length === 0) out.push({ path: childRel });
        walk(childRel);
      } else if (entry.isFile()) {
        const mode = fs.statSync(full).mode & 0o111 ? 0o755 : 0o644;
        out.push({ path: childRel, content: fs.readFileSync(full), mode });
      } else throw new Error(`${full} is neither a file nor a directory`);
    }
  };
  walk('');
  return out;
}

/** The tree under `dir` as a CAR whose root is the directory itself. */
export async function packDirectory(dir: string): Promise<{ cid: CID; car: Uint8Array }> {
  const store = new MemoryBlocks();
  let root: CID | undefined;
  for await (const result of importer(candidates(dir), store, { cidVersion: 1, rawLeaves: true, wrapWithDirectory: true })) {
    if (result.path === '') root = result.cid;
  }
  if (!root) throw new Error(`packing ${dir} produced no root`);
  const { writer, out } = CarWriter.create([root]);
  const chunks: Uint8Array[] = [];
  const collected = (async () => {
    for await (const chunk of out) chunks.push(chunk);
  })();
  for (const block of store.blocks.values()) await writer.put(block);
  await writer.close();
  await collected;
  return { cid: root, car: Buffer.concat(chunks) };
}
