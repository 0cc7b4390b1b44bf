/**
 * The member's market settings in config.json: the catalogues she
 * trusts (none by default), each with the allowed-signers file its entries'
 * signatures are checked against, and the IPFS gateway nix://ipfs-… links are
 * fetched from.
 */
import { z } from 'zod';

/** A catalogue's short name: a file name in the cache, a column in the list. */
export const CatalogueName = z.string().regex(/^[A-Za-z0-9_-]{1,32}$/, 'catalogue names are 1–32 of A–Z a–z 0–9 _ -');

/**
 * Where a catalogue lives: a git repository (git+https://, git+ssh://, git+file:///ABS or /ABS: its
 * catalogue.json at the top of its default branch) or a document over https:// (http:// only on loopback).
 */
export const CATALOGUE_URL = /^(?:(?:git\+https|git\+ssh|https):\/\/[A-Za-z0-9._~@:[\]-]+(?:\/[A-Za-z0-9._~/%+=,@:-]*)?|http:\/\/(?:127\.0\.0\.1|localhost|\[::1\])(?::[0-9]{1,5})?(?:\/[A-Za-z0-9._~/%+=,@:-]*)?|(?:git\+file:\/\/)?\/[A-Za-z0-9._~/+=,@-]+)$/;

export const CatalogueConfig = z.strictObject({
  name: CatalogueName,
  url: z.string().max(2048).regex(CATALOGUE_URL, 'a git+https://, git+ssh://, git+file:///…, /… (git), https:// or http://127.0.0.1 URL'),
  /** ssh-keygen's allowed_signers file: who may sign entries of this catalogue (absolute path). */
  allowedSigners: z.string().max(4096).regex(/^\/[^\u0000-\u001f\u007f]*$/, 'an absolute path'),
});
export type CatalogueConfig = z.infer<typeof CatalogueConfig>;

export const DEFAULT_IPFS_GATEWAY = 'http://127.0.0.1:8080';

export const MarketConfig = z
  .strictObject({
    catalogues: z.array(CatalogueConfig).max(64).default([]),
    /** An IPFS gateway serving /ipfs/CID?format=car (kubo's default). */
    /** How long a catalogue, a CAR or a clone may take before it is given up (ms). */
    fetchTimeoutMs: z.number().int().min(1000).max(3_600_000).default(60_000),
    ipfsGateway: z.string().max(512).regex(/^https?:\/\/[A-Za-z0-9.:[\]-]+(?::[0-9]{1,5})?\/?$/, 'http(s)://HOST[:PORT]').default(DEFAULT_IPFS_GATEWAY),
  })
  .superRefine((market, ctx) => {
    const seen = new Set<string>();
    market.catalogues.forEach((catalogue, index) => {
      if (seen.has(catalogue.name)) ctx.addIssue({ code: 'custom', path: ['catalogues', index, 'name'], message: `catalogue "${catalogue.name}" is listed twice` });
      seen.add(catalogue.name);
    });
  });
export type MarketConfig = z.infer<typeof MarketConfig>;
