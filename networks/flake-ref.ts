/**
 * Flake references users type (a network's flake, hiboss's own). They reach
 * `nix` as one argv element and the boilerplate flake.nix as a string, never a
 * shell; still, anything a shell or a Nix string would read specially is
 * refused, so a pasted reference cannot turn into an option or code.
 */
export const MAX_FLAKE_REF_LENGTH = 2048;

/** URL-ish characters flake refs need (scheme:, /, ?ref=, #attr, ~, %, @, +, =, comma); no `&` or `$`. */
const FLAKE_REF_CHARS = /^[A-Za-z0-9._~:/?#@+=,%-]+$/;
/** nixosConfigurations.NAME: one attribute, not a path. */
export const CONFIGURATION_NAME = /^[A-Za-z0-9_-]{1,64}$/;

export class FlakeRefError extends Error {
  override name = 'FlakeRefError';
}

/** Returns `ref` unchanged when it is safe to pass on; throws FlakeRefError saying why not. */
export function checkFlakeRef(ref: string): string {
  if (typeof ref !== 'string' || ref.length === 0) throw new FlakeRefError('flake reference is empty');
  if (ref.length > MAX_FLAKE_REF_LENGTH) throw new FlakeRefError(`flake reference is longer than ${MAX_FLAKE_REF_LENGTH} characters`);
  if (ref.startsWith('-')) throw new FlakeRefError(`flake reference "${ref}" starts with "-" (it would read as an option)`);
  if (!FLAKE_REF_CHARS.test(ref)) {
    const bad = [...ref].find((char) => !FLAKE_REF_CHARS.test(char)) ?? '';
    throw new FlakeRefError(`flake reference contains ${JSON.stringify(bad)}; allowed are letters, digits and . _ ~ : / ? # @ + = , % -`);
  }
  return ref;
}

/**
 * A flake VM's `flake` setting: "FLAKE#NAME", or "FLAKE" meaning
 * nixosConfigurations.<defaultName>.
 */
export function parseFlakeVmRef(ref: string, defaultName: string): { flake: string; configuration: string } {
  checkFlakeRef(ref);
  const hash = ref.indexOf('#');
  const flake = hash === -1 ? ref : ref.slice(0, hash);
  const configuration = hash === -1 ? defaultName : ref.slice(hash + 1);
  if (flake.length === 0) throw new FlakeRefError(`flake reference "${ref}" has nothing before "#"`);
  if (!CONFIGURATION_NAME.test(configuration)) {
    throw new FlakeRefError(`"${configuration}" (after "#") must name one nixosConfigurations entry: 1–64 of A–Z a–z 0–9 _ -`);
  }
  return { flake, configuration };
}
