# A hiboss network: configs.json says what runs on each machine of it; edit it
# in the hiboss panel or by hand. For the workspace bound to FLAKE#NAME, hiboss
# builds its own nix/vm-image.nix around nixosConfigurations.NAME (kernel,
# initrd, closure image: data) and boots it in the member's QEMU.
{
  description = "A hiboss network";

  inputs.hiboss.url = "github:hiboss/hiboss";
  inputs.nixpkgs.follows = "hiboss/nixpkgs";

  outputs = { self, hiboss, nixpkgs }: {
    nixosModules = hiboss.lib.generateNixosModules (builtins.fromJSON (builtins.readFile ./configs.json));
    nixosConfigurations = hiboss.lib.nixosConfigurations {
      inherit nixpkgs;
      modules = self.nixosModules;
    };
  };
}
