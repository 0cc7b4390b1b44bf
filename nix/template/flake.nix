# A hiboss network: configs.json says what runs on each machine of it; edit it
# in the hiboss panel or by hand. hiboss builds and runs
# nixosConfigurations.NAME.config.system.build.vm for the workspace bound to it.
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
