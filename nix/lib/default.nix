# The hiboss flake's `lib`. Needs nixpkgs' lib only (no pkgs), so it also
# evaluates in CI, where nixpkgs cannot be fetched.
{ lib, hibossModule ? ../../modules }:
let
  shapeConfigs = import ./shape-configs.nix;
  members = import ./members.nix;
in
{
  inherit shapeConfigs;
  optionsSpec = import ./options-spec.nix;
  # { configs; self; config ? null; } -> the NixOS option values of member self's VM (builtins only).
  memberConfig = import ./member-config.nix;

  # Parsed configs.json -> { NAME = NixOS module; }: one per top-level key (a
  # VM of that config that is no member yet) and one per member (MEMBER: that
  # member's VM; member names never collide with config names).
  # A bad configs.json fails here, with the key path, before any module runs.
  generateNixosModules = configs:
    let
      shaped = shapeConfigs configs;
      module = name: self: entry: {
        _file = "configs.json#${name}";
        imports = [ hibossModule ];
        hiboss = entry.hiboss // { enable = true; inherit name self; networkMembers = members.networkOf shaped name; };
        nixpkgs.hostPlatform = lib.mkDefault entry.system;
      };
    in
    builtins.mapAttrs (name: module name null) shaped
    // builtins.listToAttrs (map (e: { inherit (e) name; value = module e.config e.name shaped.${e.config}; }) (members.entries shaped));

  # { NAME = module; } -> { NAME = nixosSystem; }, what a network flake exports
  # as nixosConfigurations (hiboss builds nix/vm-image.nix around NAME's config).
  nixosConfigurations = { nixpkgs, modules, extraModules ? [ ] }:
    builtins.mapAttrs (_: module: nixpkgs.lib.nixosSystem { modules = [ module ] ++ extraModules; }) modules;
}
