/**
 * A catalogue (issue 24): a document anyone can host — catalogue.json at the
 * top of a git repository, or a file over https — listing network entries,
 * each signed by its publisher with `ssh-keygen -Y sign`. One schema for the
 * publisher who writes entries and every reader (CLI, panel).
 *
 * The document is read in two steps: its frame (format, title, entries as
 * opaque values) and then each entry on its own, so one malformed entry is
 * hidden with its reason instead of hiding the whole catalogue.
 */
import { z } from 'zod';
import { APPLICATIONS, NETWORK_LAYERS } from '../networks/index.js';

export const CATALOGUE_FORMAT = 'hiboss-catalogue/1';
export const CATALOGUE_FILE = 'catalogue.json';
export const MAX_CATALOGUE_BYTES = 2 * 1024 * 1024;
export const MAX_ENTRIES = 500;

/** C0 (except newline where allowed), DEL and C1: they could rewrite a terminal. */
const CONTROLS = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/;
const CONTROLS_OR_NEWLINE = /[\u0000-\u001f\u007f-\u009f]/;

function line(max: number) {
  return z.string().min(1).max(max).refine((s) => !CONTROLS_OR_NEWLINE.test(s), 'contains a control character');
}
function paragraph(max: number) {
  return z.string().max(max).refine((s) => !CONTROLS.test(s), 'contains a control character');
}

/** A CIDv1 in base32 (bafy…, bafk…) or a CIDv0 (Qm…): checked again by multiformats when used. */
export const CID_TEXT = /^(?:b[a-z2-7]{20,200}|Qm[1-9A-HJ-NP-Za-km-z]{44})$/;
/** A mirror is a nix:// link of its own: nix://ipfs-CID[/PATH] or nix://ygg-ADDRESS[/PATH]. */
export const MIRROR_URI = /^nix:\/\/(?:ipfs-[A-Za-z0-9]{20,200}|ygg-[0-9a-fA-F:]{2,39})(?:\/[A-Za-z0-9._-]+)*$/;

export const FUNDING_KINDS = ['donation', 'subscription'] as const;

export const CatalogueEntry = z.strictObject({
  /** The network's configuration name (nixosConfigurations.NAME), also the VM's default name. */
  name: z.string().regex(/^[A-Za-z0-9_-]{1,32}$/, 'names are 1–32 of A–Z a–z 0–9 _ -'),
  summary: line(120),
  description: paragraph(4000).default(''),
  apps: z.array(z.enum(APPLICATIONS)).max(APPLICATIONS.length).default([]),
  layer: z.enum(NETWORK_LAYERS),
  /** How to reach the network's admin (an address, a room, a URL). */
  contact: line(200),
  /** The flake, as `hiboss join` takes it (nix://… link or flake reference with #NAME); never on the member's disk. */
  flake: line(2048).refine((flake) => !/^(?:path|file|git\+file):/i.test(flake) && !flake.startsWith('/'), 'a catalogue entry may not name a local path (path:, file:, git+file:)'),
  /** The locked revision (git commit) the entry was signed for. */
  revision: z.string().regex(/^[0-9a-f]{40}$/, 'a 40-digit git commit hash').optional(),
  /** The NAR hash (sha256-…, as in flake.lock) of the flake's source tree. */
  narHash: z.string().regex(/^sha256-[A-Za-z0-9+/]{43}=$/, 'sha256-… (SRI, as in flake.lock)').optional(),
  /** Tried in order when `flake` cannot be fetched; accepted only when the same source. */
  mirrors: z.array(z.string().max(512).regex(MIRROR_URI, 'nix://ipfs-CID[/PATH] or nix://ygg-ADDRESS[/PATH]')).max(8).default([]),
  funding: z.strictObject({ kind: z.enum(FUNDING_KINDS), url: z.string().max(512).regex(/^https:\/\/[!-~]+$/, 'an https:// URL') }).optional(),
  /** The principal the signature is checked for in the member's allowed_signers file. */
  publisher: z.string().regex(/^[A-Za-z0-9._@+-]{1,128}$/, 'a principal: 1–128 of A–Z a–z 0–9 . _ @ + -'),
}).superRefine((entry, ctx) => {
  if (entry.revision === undefined && entry.narHash === undefined) {
    ctx.addIssue({ code: 'custom', message: 'names neither a revision nor a narHash: a mirror could not be checked against it' });
  }
});
export type CatalogueEntry = z.infer<typeof CatalogueEntry>;

export const SignedEntry = z.strictObject({
  entry: z.unknown(),
  signature: z.string().max(8192).regex(/^-----BEGIN SSH SIGNATURE-----\n[A-Za-z0-9+/=\n]+-----END SSH SIGNATURE-----\n?$/, 'an armored SSH signature'),
});
export type SignedEntry = z.infer<typeof SignedEntry>;

/** The frame: entries are checked one by one (see above). */
export const CatalogueDocument = z.strictObject({
  format: z.literal(CATALOGUE_FORMAT),
  title: line(120),
  entries: z.array(z.unknown()).max(MAX_ENTRIES),
});
export type CatalogueDocument = z.infer<typeof CatalogueDocument>;

/** What is signed: the entry's JSON with its keys sorted at every level, no spaces. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const keys = Object.keys(value).sort();
    return `{${keys.map((key) => `${JSON.stringify(key)}:${canonicalJson((value as Record<string, unknown>)[key])}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

export class CatalogueFormatError extends Error {
  override name = 'CatalogueFormatError';
}

/** Parses a catalogue's text (its frame); throws CatalogueFormatError with the problems. */
export function parseCatalogue(text: string): CatalogueDocument {
  if (Buffer.byteLength(text) > MAX_CATALOGUE_BYTES) throw new CatalogueFormatError(`larger than ${MAX_CATALOGUE_BYTES} bytes`);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new CatalogueFormatError(`not valid JSON: ${(error as Error).message}`);
  }
  const parsed = CatalogueDocument.safeParse(json);
  if (!parsed.success) {
    throw new CatalogueFormatError(parsed.error.issues.map((i) => `${i.path.length ? i.path.join('.') : '(root)'}: ${i.message}`).join('; '));
  }
  return parsed.data;
}

export function describeZod(error: z.ZodError): string {
  return error.issues.map((i) => `${i.path.length ? i.path.join('.') : '(root)'}: ${i.message}`).join('; ');
}
