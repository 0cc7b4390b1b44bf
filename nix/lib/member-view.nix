# A network's members seen from one VM (builtins only; service-settings.nix
# turns this into NixOS settings): who "me" is, everybody else, and what each
# layer and application makes of them — peers, allowed keys, host files,
# firewall sources, Syncthing devices, host names. A member not in `members`
# appears in none of it.
#
# `members`: the network's (members.nix networkOf); `self`: this VM's member
# name, or null for a VM of the config that is no member (yet).
{ hiboss, self, members }:
let
  inherit (import ./addresses.nix) bracketed hostPrefix isIPv6 parseHostPort prefixLength;
  layer = hiboss.networkLayer;
  filterAttrs = keep: set: builtins.listToAttrs (builtins.filter (entry: keep entry.name entry.value) (map (name: { inherit name; value = set.${name}; }) (builtins.attrNames set)));
  me = if self == null then null else members.${self};
  # Everybody else: the peers, allowed keys, firewall sources and devices.
  others = builtins.removeAttrs members (if self == null then [ ] else [ self ]);
  othersWith = layerKey: filterAttrs (_: member: member.${layerKey} != null) others;
  otherList = layerKey: map (memberName: { name = memberName; } // others.${memberName}) (builtins.attrNames (othersWith layerKey));
  withEndpoint = builtins.filter (member: member.endpoint != null);
  # A member's endpoint with the layer's port when it names none.
  endpointWith = defaultPort: member:
    let parsed = parseHostPort member.endpoint; in
    "${bracketed parsed.address}:${toString (if parsed.port == null then defaultPort else parsed.port)}";
  # Yggdrasil has no standard port: members listen (and are dialled) on this one unless their endpoint says otherwise.
  yggdrasilPort = 9001;
  servedBySomeone = service: builtins.any (memberName: builtins.elem service members.${memberName}.serves) (builtins.attrNames members);

  domain = hiboss.domain;
  lower = builtins.replaceStrings
    [ "A" "B" "C" "D" "E" "F" "G" "H" "I" "J" "K" "L" "M" "N" "O" "P" "Q" "R" "S" "T" "U" "V" "W" "X" "Y" "Z" "_" ]
    [ "a" "b" "c" "d" "e" "f" "g" "h" "i" "j" "k" "l" "m" "n" "o" "p" "q" "r" "s" "t" "u" "v" "w" "x" "y" "z" "-" ];
in
rec {
  inherit me;

  # Yggdrasil routes for the whole mesh and ZeroTier's controller decides who
  # joins: on those the service ports open only to the members' addresses.
  sourceFiltered = layer == "yggdrasil" || layer == "zerotier";

  # A server application runs on the member that serves it, when one does
  # (`serves`); when none does, on every VM of the config, as without members.
  runs = service: app: hiboss.applications.${app}.enable && (me == null || !(servedBySomeone service) || builtins.elem service me.serves);
  serves = service: me != null && builtins.elem service me.serves;

  # The layer's own address of this VM, with the config's prefix (the config's own without a member).
  cidr = configCidr:
    if me == null then configCidr
    else "${me.address}/${toString (if configCidr == null then hostPrefix me.address else prefixLength configCidr)}";

  # --- names: static /etc/hosts entries from the members ------------------
  # MEMBER.DOMAIN for every member, SERVICE.DOMAIN (and the seed's SERVICE.hiboss)
  # for the member serving it.
  memberHostName = memberName: "${lower memberName}.${domain}";
  serviceHostNames = service: [ "${service}.${domain}" ] ++ (if domain == "hiboss" then [ ] else [ "${service}.hiboss" ]);
  hosts = builtins.foldl'
    (acc: memberName:
      let member = members.${memberName}; in
      acc // { ${member.address} = (acc.${member.address} or [ ]) ++ [ (memberHostName memberName) ] ++ builtins.concatMap serviceHostNames member.serves; })
    { }
    (builtins.attrNames members);

  # --- wireguard: every other member a peer, its address alone routed to it -
  wireguardPeers = listenPort: map
    (member: {
      inherit (member) name;
      publicKey = member.wireguard.publicKey;
      allowedIPs = [ "${member.address}/${toString (hostPrefix member.address)}" ];
      # Keeps a NAT's mapping open, for members behind one.
      persistentKeepalive = 25;
    } // (if member.endpoint == null then { } else { endpoint = endpointWith listenPort member; }))
    (otherList "wireguard");

  # --- yggdrasil ------------------------------------------------------------
  yggdrasilPeers = map (member: "tls://${endpointWith yggdrasilPort member}") (withEndpoint (otherList "yggdrasil"));
  allowedPublicKeys = map (member: member.yggdrasil.publicKey) (otherList "yggdrasil");
  myYggdrasilPort =
    let port = if me == null || me.endpoint == null then null else (parseHostPort me.endpoint).port; in
    if port == null then yggdrasilPort else port;
  # Listens only with members to accept: an empty AllowedPublicKeys would accept everybody.
  yggdrasilListens = me != null && me.endpoint != null && othersWith "yggdrasil" != { };

  # --- tinc: a host file per other member ------------------------------------
  tincHosts = tincName: builtins.listToAttrs (map
    (member: {
      name = tincName member.name;
      value = {
        addresses = if member.endpoint == null then [ ] else [ (let parsed = parseHostPort member.endpoint; in
          { inherit (parsed) address; } // (if parsed.port == null then { } else { inherit (parsed) port; })) ];
        subnets = [ { inherit (member) address; prefixLength = hostPrefix member.address; } ];
      } // (if member.tinc.rsaPublicKey == null then { } else { inherit (member.tinc) rsaPublicKey; })
        // (if member.tinc.ed25519PublicKey == null then { } else { settings.Ed25519PublicKey = member.tinc.ed25519PublicKey; });
    })
    (otherList "tinc"));
  # tinc 1.0 dials only the hosts named here (1.1 would find them itself).
  tincConnectTo = tincName: map (member: tincName member.name) (withEndpoint (otherList "tinc"));

  # --- Syncthing: the other members' devices, dialled on their VPN address -
  syncthingDevices = port: builtins.listToAttrs (map
    (member: { inherit (member) name; value = { id = member.syncthing.deviceId; addresses = [ "tcp://${bracketed member.address}:${toString port}" ]; }; })
    (otherList "syncthing"));

  # --- members-only service ports (nftables rules, yggdrasil and zerotier) -
  sourceRules = { interface, tcpPorts, udpPorts }:
    let
      addresses = map (memberName: others.${memberName}.address) (builtins.attrNames others);
      v6 = builtins.filter isIPv6 addresses;
      v4 = builtins.filter (address: !isIPv6 address) addresses;
      commas = builtins.concatStringsSep ", ";
      line = family: sources: protocol: portList:
        if sources == [ ] || portList == [ ] then [ ]
        else [ "iifname \"${interface}\" ${family} saddr { ${commas sources} } ${protocol} dport { ${commas (map toString portList)} } accept" ];
    in
    builtins.concatStringsSep "\n" (line "ip6" v6 "tcp" tcpPorts ++ line "ip6" v6 "udp" udpPorts ++ line "ip" v4 "tcp" tcpPorts ++ line "ip" v4 "udp" udpPorts);
}
