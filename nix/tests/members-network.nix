# The network the flake's member checks run (nix/tests/members.nix), as
# configs.json would say it: alice and bob are members (test keys from
# test-keys.json), `without` names members already removed. Builtins only:
# CI evaluates it offline through member-config.nix (test/nix/flake-checks.test.ts).
{ layer, without ? [ ] }:
let
  keys = (builtins.fromJSON (builtins.readFile ./test-keys.json)).members;
  address = {
    wireguard = { alice = "10.77.0.1"; bob = "10.77.0.2"; };
    tinc = { alice = "10.78.0.1"; bob = "10.78.0.2"; };
    yggdrasil = { alice = keys.alice.yggdrasil.address; bob = keys.bob.yggdrasil.address; };
  }.${layer};
  # The test VLAN resolves node names; the layer's own port where it has none.
  endpoint = name: { wireguard = "${name}:51820"; tinc = "${name}:655"; yggdrasil = "${name}:9001"; }.${layer};
  member = name: {
    address = address.${name};
    admin = name == "alice";
    endpoint = endpoint name;
    wireguard.publicKey = keys.${name}.wireguard.publicKey;
    yggdrasil.publicKey = keys.${name}.yggdrasil.publicKey;
    tinc.rsaPublicKey = keys.${name}.tinc.rsaPublicKey;
    # alice is the network's git server.
    serves = if name == "alice" then [ "git" ] else [ ];
  };
  layerBlock = {
    wireguard = { address = "10.77.0.1/24"; };
    tinc = { address = "10.78.0.1/24"; };
    # eve: a public yggdrasil node both members peer with (outgoing peerings are not filtered).
    yggdrasil = { peers = [ "tls://eve:9001" ]; };
  }.${layer};
in
{
  default = {
    networkLayer = layer;
    ${layer} = layerBlock;
    desktop.enable = false;
    applications.gitServer.enable = true;
    members = builtins.removeAttrs { alice = member "alice"; bob = member "bob"; } without;
  };
}
