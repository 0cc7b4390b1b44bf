{
  description = "hiboss: sway/i3 workspaces bound to private-network NixOS VMs";

  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-25.05";

  outputs = { self, nixpkgs }:
    let
      inherit (nixpkgs) lib;
      systems = (import ./nix/lib/options-spec.nix).systems;
      forAllSystems = f: lib.genAttrs systems (system: f nixpkgs.legacyPackages.${system});
      hibossLib = import ./nix/lib { inherit lib; hibossModule = self.nixosModules.hiboss; };
    in
    {
      packages = forAllSystems (pkgs: {
        default = self.packages.${pkgs.stdenv.hostPlatform.system}.hiboss;
        hiboss = pkgs.callPackage ./nix/package.nix { };
      });

      apps = forAllSystems (pkgs: {
        default = {
          type = "app";
          program = lib.getExe self.packages.${pkgs.stdenv.hostPlatform.system}.default;
        };
      });

      # generateNixosModules: parsed configs.json -> { NAME = NixOS module; };
      # nixosConfigurations: those modules -> { NAME = nixosSystem; }.
      lib = {
        inherit (hibossLib) generateNixosModules nixosConfigurations shapeConfigs optionsSpec memberConfig;
        waybarModule = import ./nix/waybar-module.nix { };
        wmKeybindings = builtins.readFile ./nix/wm-keybindings.conf;
      };

      nixosModules = {
        # The hiboss.* options of a network VM (what configs.json sets).
        hiboss = ./modules;
        # The daemon on the member's own machine.
        daemon = import ./nix/nixos-module.nix { inherit self; };
        default = self.nixosModules.daemon;
      };

      homeManagerModules.default = import ./nix/home-manager.nix { inherit self; };

      templates.default = {
        path = ./nix/template;
        description = "A hiboss network: flake.nix and configs.json, as the wizard writes them";
      };

      devShells = forAllSystems (pkgs: {
        default = pkgs.mkShell {
          packages = [ pkgs.nodejs_20 pkgs.qemu pkgs.nix ];
        };
      });

      # What CI can build once nixpkgs is reachable: configs.json -> a VM, end to end.
      # members-LAYER: three nodes (two members, one not) as a NixOS test (nix/tests/members.nix).
      checks = forAllSystems (pkgs: lib.optionalAttrs (pkgs.stdenv.hostPlatform.system == "x86_64-linux") ({
        template-vm = (self.lib.nixosConfigurations {
          inherit nixpkgs;
          modules = self.lib.generateNixosModules (builtins.fromJSON (builtins.readFile ./nix/template/configs.json));
        }).default.config.system.build.vm;
      } // builtins.listToAttrs (map (layer: {
        name = "members-${layer}";
        value = import ./nix/tests/members.nix { inherit pkgs layer; hibossLib = self.lib; };
      }) [ "wireguard" "tinc" "yggdrasil" ])));
    };
}
