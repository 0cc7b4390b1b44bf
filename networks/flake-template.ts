/**
 * The boilerplate flake.nix of a network. The same text is the hiboss flake's
 * `templates.default` (nix/template/flake.nix; a test keeps them equal).
 */
import { checkFlakeRef } from './flake-ref.js';

/** Where the hiboss flake lives unless the wizard is told otherwise. */
export const DEFAULT_HIBOSS_FLAKE = 'github:hiboss/hiboss';

export function renderFlakeNix({ flakeRef = DEFAULT_HIBOSS_FLAKE }: { flakeRef?: string } = {}): string {
  // checkFlakeRef admits no `"`, `\` or `$`, so the reference cannot leave the Nix string.
  checkFlakeRef(flakeRef);
  if (flakeRef.includes('#')) throw new Error(`hiboss flake reference "${flakeRef}" must not name an output ("#…")`);
  return `# A hiboss network: configs.json says what runs on each machine of it; edit it
# in the hiboss panel or by hand. For the workspace bound to FLAKE#NAME, hiboss
# builds its own nix/vm-image.nix around nixosConfigurations.NAME (kernel,
# initrd, closure image: data) and boots it in the member's QEMU.
{
  description = "A hiboss network";

  inputs.hiboss.url = "${flakeRef}";
  inputs.nixpkgs.follows = "hiboss/nixpkgs";

  outputs = { self, hiboss, nixpkgs }: {
    nixosModules = hiboss.lib.generateNixosModules (builtins.fromJSON (builtins.readFile ./configs.json));
    nixosConfigurations = hiboss.lib.nixosConfigurations {
      inherit nixpkgs;
      modules = self.nixosModules;
    };
  };
}
`;
}
