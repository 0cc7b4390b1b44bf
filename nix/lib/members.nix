# The network's members, as configs.json lists them (builtins only, so CI and
# netlab's adapter evaluate it without nixpkgs).
#
# Each config of configs.json lists the members that run it (`members`); the
# network is every member of every config on the same network layer. A member
# VM's NixOS config is its config's, seen from that member (`self`): the other
# members are its peers, allowed keys, host entries, firewall sources and
# Syncthing devices; nobody else is.
let
  spec = import ./options-spec.nix;
  layerOf = shaped: config: shaped.${config}.hiboss.networkLayer;

  # [ { config; name; member; } ], by config name then member name.
  entries = shaped:
    builtins.concatMap
      (config: map (name: { inherit config name; member = shaped.${config}.hiboss.members.${name}; }) (builtins.attrNames shaped.${config}.hiboss.members))
      (builtins.attrNames shaped);

  # The first entry before `index` that `same` matches, or null.
  earlier = list: index: same:
    let found = builtins.filter same (builtins.genList (i: builtins.elemAt list i) index); in
    if found == [ ] then null else builtins.head found;
in
rec {
  inherit entries;

  # shaped configs -> { MEMBER = member record; }: the network config NAME belongs to.
  networkOf = shaped: config:
    builtins.listToAttrs (map (entry: { inherit (entry) name; value = entry.member; })
      (builtins.filter (entry: layerOf shaped entry.config == layerOf shaped config) (entries shaped)));

  # The config that lists member `self` (a member runs exactly one config).
  configOf = shaped: self:
    let found = builtins.filter (entry: entry.name == self) (entries shaped); in
    if found == [ ] then throw "hiboss: no member ${self} in configs.json (members: ${builtins.concatStringsSep ", " (map (e: e.name) (entries shaped))})"
    else (builtins.head found).config;

  # Rules across configs, as [ { path; message; } ] with paths from the root
  # (networks/configs-schema.ts networkProblems states the same, message for message).
  problems = shaped:
    let
      list = entries shaped;
      one = index:
        let
          entry = builtins.elemAt list index;
          at = "${entry.config}.members.${entry.name}";
          twin = earlier list index (other: other.name == entry.name);
          sameAddress = earlier list index (other: other.member.address == entry.member.address && layerOf shaped other.config == layerOf shaped entry.config);
        in
        (if shaped ? ${entry.name} then [ { path = at; message = "a member cannot have the name of a config"; } ] else [ ])
        ++ (if twin != null then [ { path = at; message = "is also a member in ${twin.config}"; } ] else [ ])
        ++ (if sameAddress != null then [ { path = "${at}.address"; message = "is also the address of ${sameAddress.name}"; } ] else [ ])
        # One member serves each service: SERVICE.DOMAIN names one address.
        ++ builtins.concatMap
          (service:
            let other = earlier list index (o: layerOf shaped o.config == layerOf shaped entry.config && builtins.elem service o.member.serves); in
            if other == null then [ ] else [ { path = "${at}.serves"; message = "${service} is served by ${other.name} already"; } ])
          entry.member.serves;
    in
    builtins.concatLists (builtins.genList one (builtins.length list));

  services = spec.memberServices;
}
