# NixOS tests of a network's members, one per layer, for users with
# Nix (flake checks members-wireguard, members-tinc, members-yggdrasil):
# alice and bob are members (nixosConfigurations.alice/bob of the network, as
# lib.generateNixosModules makes them), eve is not (wireguard, tinc: a VM of the
# same config that was never admitted; yggdrasil: a public node both members
# peer with). Checked: alice and bob reach each other's VPN address and a
# service port (alice's Forgejo, 3000); eve reaches no service port of alice's; after
# bob's removal (alice switched to the config without bob) bob reaches nothing
# of alice's. Private keys are test keys (test-keys.json), put in place before
# the services start; zerotier needs a controller and is not tested here.
{ pkgs, hibossLib, layer }:
let
  inherit (pkgs) lib;
  keys = (builtins.fromJSON (builtins.readFile ./test-keys.json)).members;
  network = import ./members-network.nix;
  modules = hibossLib.generateNixosModules (network { inherit layer; });
  withoutBob = hibossLib.generateNixosModules (network { inherit layer; without = [ "bob" ]; });
  address = (network { inherit layer; }).default.members;

  # The node's test identity instead of one made at first boot.
  testIdentity = name: {
    wireguard = {
      systemd.tmpfiles.rules = [ "d /var/lib/hiboss 0700 root root -" ];
      system.activationScripts.hiboss-test-key = ''
        install -D -m 0600 ${pkgs.writeText "wg-${name}" keys.${name}.wireguard.privateKey} /var/lib/hiboss/wireguard.key
      '';
    };
    yggdrasil = {
      services.yggdrasil.persistentKeys = lib.mkForce false;
      services.yggdrasil.settings.PrivateKey = keys.${name}.yggdrasil.privateKey;
    };
    tinc = {
      services.tinc.networks.hiboss.rsaPrivateKeyFile = pkgs.writeText "tinc-${name}" keys.${name}.tinc.rsaPrivateKey;
    };
  }.${layer};
  tools = { environment.systemPackages = [ pkgs.netcat pkgs.iputils ]; virtualisation.memorySize = 1024; };

  member = name: {
    imports = [ modules.${name} (testIdentity name) tools ];
    # bob's removal as alice's next generation: the same node (the test's own
    # settings kept) with the network of the configs.json without bob.
    specialisation.without-bob = lib.mkIf (name == "alice") {
      inheritParentConfig = true;
      configuration.hiboss.networkMembers = lib.mkForce withoutBob.alice.hiboss.networkMembers;
    };
  };
  eve = {
    wireguard = { imports = [ modules.default tools ]; };
    tinc = { imports = [ modules.default tools ]; };
    yggdrasil = {
      imports = [ tools ];
      services.yggdrasil = {
        enable = true;
        settings = { PrivateKey = keys.eve.yggdrasil.privateKey; Listen = [ "tls://[::]:9001" ]; MulticastInterfaces = [ ]; IfName = "ygg0"; };
      };
      networking.firewall.allowedTCPPorts = [ 9001 ];
    };
  }.${layer};
  a = address.alice.address;
  b = address.bob.address;
  ping = addr: if lib.hasInfix ":" addr then "ping -6 -c1 -W2 ${addr}" else "ping -c1 -W2 ${addr}";
  url = addr: if lib.hasInfix ":" addr then "[${addr}]" else addr;
in
pkgs.testers.runNixOSTest {
  name = "hiboss-members-${layer}";
  nodes = { alice = member "alice"; bob = member "bob"; inherit eve; };
  testScript = ''
    start_all()
    for node in (alice, bob, eve):
        node.wait_for_unit("multi-user.target")
    alice.wait_for_unit("forgejo.service")

    with subtest("members reach each other's VPN address and a service port"):
        alice.wait_until_succeeds("${ping b}", timeout=120)
        bob.wait_until_succeeds("${ping a}", timeout=120)
        bob.wait_until_succeeds("nc -z -w2 ${a} 3000", timeout=120)
        bob.succeed("getent hosts alice.hiboss | grep -F '${a}'")

    with subtest("eve reaches no service port of alice's"):
        eve.fail("nc -z -w3 ${a} 3000")
        eve.fail("curl -sf --max-time 3 http://${url a}:3000/")

    with subtest("after bob's removal, bob reaches nothing of alice's"):
        alice.succeed("/run/current-system/specialisation/without-bob/bin/switch-to-configuration test")
        alice.fail("getent hosts bob.hiboss")
        bob.fail("nc -z -w3 ${a} 3000")
        bob.fail("${ping a}")
  '';
}
