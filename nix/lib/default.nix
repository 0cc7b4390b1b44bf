# The hiboss flake's `lib`. Needs nixpkgs' lib only (no pkgs), so it also
# evaluates in CI, where nixpkgs cannot be fetched.
{ lib, hibossModule ? ../../modules }:
let
  shapeConfigs = import ./shape-configs.nix;
in
{
  inherit shapeConfigs;
  optionsSpec = import ./options-spec.nix;

  # Parsed configs.json -> { NAME = NixOS module; }, one per top-level key.
  # A bad configs.json fails here, with the key path, before any module runs.
  generateNixosModules = configs:
    builtins.mapAttrs
      (name: entry: {
        _file = "configs.json#${name}";
        imports = [ hibossModule ];
        hiboss = entry.hiboss // { enable = true; inherit name; };
        nixpkgs.hostPlatform = lib.mkDefault entry.system;
      })
      (shapeConfigs configs);

  # { NAME = module; } -> { NAME = nixosSystem; }, what a network flake exports
  # as nixosConfigurations (hiboss builds NAME's config.system.build.vm).
  nixosConfigurations = { nixpkgs, modules, extraModules ? [ ] }:
    builtins.mapAttrs (_: module: nixpkgs.lib.nixosSystem { modules = [ module ] ++ extraModules; }) modules;
}
