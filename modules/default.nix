# All high-level hiboss modules for a network VM (flake output nixosModules.hiboss).
{
  imports = [ ./hiboss.nix ./guest-boot.nix ];
}
