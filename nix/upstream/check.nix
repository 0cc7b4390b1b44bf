# The CI side of the upstream check (builtins only: CI has no nixpkgs).
# Checks the NixOS settings hiboss generates for every wizard-producible
# config (wizard-configs.nix) against options.json, the option declarations
# check-real.mjs recorded from the real NixOS modules. Strict: a path not
# declared there, or a value not of the declared type, is a problem.
#
# { recorded ? options.json, byHand ? options-members.json, boot ? options-boot.json } -> [ "CONFIG: path: problem" ]
# `extra`: more settings walked with every config (the test's way to show a failure).
{ recorded ? builtins.fromJSON (builtins.readFile ./options.json)
, byHand ? builtins.fromJSON (builtins.readFile ./options-members.json)
, boot ? builtins.fromJSON (builtins.readFile ./options-boot.json)
, configs ? import ./wizard-configs.nix
, extra ? { }
}:
let
  declarations = recorded // { options = recorded.options ++ byHand.options ++ boot.options; };
  settingsFor = import ../lib/service-settings.nix;
  # Each config its own network (wizard-members.nix gives every config the same member names).
  shaped = builtins.mapAttrs (name: entry: (import ../lib/shape-configs.nix { ${name} = entry; }).${name}) configs;
  spec = import ../lib/options-spec.nix;

  # What modules/hiboss.nix and modules/guest-shares.nix set besides service-settings.nix
  # (need pkgs there), and how every network VM boots (modules/guest-boot.nix).
  bootSettings = (import ../lib/guest-boot.nix { }).settings;
  moduleExtras = bootSettings // {
    assertions = [ { assertion = true; message = ""; } ];
    warnings = [ "" ];
    environment.systemPackages = [ ];
    systemd.services.hiboss-nextcloud-password = { description = ""; wantedBy = [ ]; before = [ ]; serviceConfig.Type = "oneshot"; script = ""; };
    systemd.services.hiboss-identity = { description = ""; wantedBy = [ ]; after = [ ]; wants = [ ]; serviceConfig = { Type = "oneshot"; RemainAfterExit = true; }; path = [ ]; script = ""; };
    boot = bootSettings.boot // { kernelModules = (import ../lib/guest-shares.nix).kernelModules; };
    systemd.services.hiboss-shares = { description = ""; wantedBy = [ ]; after = [ ]; wants = [ ]; serviceConfig = { Type = "oneshot"; RemainAfterExit = true; }; path = [ ]; script = ""; };
    systemd.services.hiboss-forgejo-admins = { description = ""; after = [ ]; requires = [ ]; wantedBy = [ ]; serviceConfig = { Type = "oneshot"; RemainAfterExit = true; }; path = [ ]; script = ""; };
  };

  # options.json names -> a trie; "<name>" matches any attribute, "*" a list element.
  trie = builtins.foldl'
    (acc: option:
      let
        insert = node: parts:
          if parts == [ ] then node // { _option = option; }
          else
            let head = builtins.head parts; in
            node // { ${head} = insert (node.${head} or { }) (builtins.tail parts); };
      in
      insert acc (splitName option.name))
    { }
    declarations.options;
  splitName = name: builtins.filter builtins.isString (builtins.split "\\." name);

  hasPrefix = prefix: s: builtins.substring 0 (builtins.stringLength prefix) s == prefix;
  dropPrefix = prefix: s: builtins.substring (builtins.stringLength prefix) (builtins.stringLength s) s;
  stripParens = s:
    if hasPrefix "(" s && builtins.substring (builtins.stringLength s - 1) 1 s == ")"
    then builtins.substring 1 (builtins.stringLength s - 2) s else s;

  # A NixOS type description (lib's `type.description`) -> a checker tree.
  parse = description:
    let s = stripParens description; in
    if hasPrefix "null or " s then { kind = "nullOr"; elem = parse (dropPrefix "null or " s); }
    else if hasPrefix "non-empty (" s then { kind = "nonEmpty"; elem = parse (dropPrefix "non-empty " s); }
    else if hasPrefix "list of " s then { kind = "listOf"; elem = parse (dropPrefix "list of " s); }
    else if hasPrefix "attribute set of " s then { kind = "attrsOf"; elem = parse (dropPrefix "attribute set of " s); }
    else if hasPrefix "lazy attribute set of " s then { kind = "attrsOf"; elem = parse (dropPrefix "lazy attribute set of " s); }
    else if hasPrefix "one of " s then { kind = "enum"; values = builtins.filter builtins.isString (builtins.split ", " (dropPrefix "one of " s)); }
    else { kind = "leaf"; description = s; };

  bounds = description: builtins.match ".*between (-?[0-9]+) and (-?[0-9]+).*" description;
  pattern = description: builtins.match "string matching the pattern (.*)" description;

  # null when the value fits the leaf type, else what is wrong.
  leafProblem = description: value:
    let
      wrong = "expected ${description}, got ${builtins.typeOf value} ${builtins.toJSON value}";
      b = bounds description;
      p = pattern description;
    in
    if description == "boolean" then (if builtins.isBool value then null else wrong)
    # pkgs.formats.ini's atoms (forgejo's settings).
    else if hasPrefix "INI atom" description then
      (if value == null || builtins.isBool value || builtins.isInt value || builtins.isFloat value || builtins.isString value then null else wrong)
    # tinc's settings: `either atom (listOf atom)`, atoms being "boolean or string or signed integer".
    else if builtins.match "(.*) or list of \\((.*)\\)" description != null then
      let
        parts = builtins.match "(.*) or list of \\((.*)\\)" description;
        atomOk = alternatives: v: builtins.any (alternative: leafProblem alternative v == null)
          (builtins.filter builtins.isString (builtins.split " or " alternatives));
      in
      if builtins.isList value then (if builtins.all (atomOk (builtins.elemAt parts 1)) value then null else wrong)
      else if atomOk (builtins.elemAt parts 0) value then null else wrong
    else if builtins.match ".*\\(with check: non-empty\\)" description != null && value == "" then wrong
    else if p != null then (if builtins.isString value && builtins.match (builtins.head p) value != null then null else wrong)
    else if builtins.match ".*string.*" description != null then (if builtins.isString value then null else wrong)
    else if builtins.match ".*integer.*" description != null then
      (if !builtins.isInt value then wrong
       else if b != null && (value < builtins.fromJSON (builtins.elemAt b 0) || value > builtins.fromJSON (builtins.elemAt b 1)) then wrong
       else null)
    else if description == "path" || description == "absolute path" then
      (if builtins.isPath value || (builtins.isString value && hasPrefix "/" value) then null else wrong)
    else if description == "package" then (if builtins.isAttrs value || builtins.isString value then null else wrong)
    else if builtins.elem description [ "anything" "unspecified value" "JSON value" "attribute set" "raw value" ] then null
    # stub-nixos.nix's stand-in for parts of NixOS not read (systemd units): not checked here.
    else if description == "anything (stub)" then null
    else if description == "submodule" then (if builtins.isAttrs value then null else wrong)
    else "type \"${description}\" is not understood by nix/upstream/check.nix";

  join = path: key: if path == "" then key else "${path}.${key}";
  children = node: builtins.removeAttrs node [ "_option" "<name>" "*" ];

  # A value at an option: its type, and declared sub-options below it.
  checkTyped = type: node: path: value:
    if unset value then [ ]
    else if type.kind == "nullOr" then (if value == null then [ ] else checkTyped type.elem node path value)
    else if type.kind == "nonEmpty" then
      (if value == [ ] || value == "" then [ "${path}: expected a non-empty value, got ${builtins.toJSON value}" ]
       else checkTyped type.elem node path value)
    else if type.kind == "listOf" then
      (if !builtins.isList value then [ "${path}: expected a list, got ${builtins.typeOf value}" ]
       else builtins.concatLists (builtins.genList (i: checkTyped type.elem (node."*" or { }) (join path (toString i)) (builtins.elemAt value i)) (builtins.length value)))
    else if type.kind == "attrsOf" then
      (if !builtins.isAttrs value then [ "${path}: expected an attribute set, got ${builtins.typeOf value}" ]
       else builtins.concatMap
         (key:
           # A freeform submodule: declared sub-options are checked as such, the rest by the freeform type.
           if (children node) ? ${key} then walk node.${key} (join path key) value.${key}
           else checkTyped type.elem (node."<name>" or { }) (join path key) value.${key})
         (builtins.attrNames value))
    else if type.kind == "enum" then
      (if builtins.elem (builtins.toJSON value) type.values then [ ] else [ "${path}: ${builtins.toJSON value} is not one of ${builtins.concatStringsSep ", " type.values}" ])
    else if type.description == "submodule" then
      (if !builtins.isAttrs value then [ "${path}: expected a submodule (attribute set), got ${builtins.typeOf value}" ]
       else builtins.concatMap (key: walk ((children node).${key} or null) (join path key) value.${key}) (builtins.attrNames value))
    else
      let problem = leafProblem type.description value; in
      if problem == null then [ ] else [ "${path}: ${problem}" ];

  # Down the option tree to the options, then by type.
  walk = node: path: value:
    if unset value then [ ]
    else if node == null then [ "${path}: no such option upstream (${declarations.nixpkgs.repo}@${builtins.substring 0 12 declarations.nixpkgs.commit})" ]
    else if node ? _option then checkTyped (parse node._option.type) node path value
    else if builtins.isAttrs value then
      builtins.concatMap (key: walk ((children node).${key} or null) (join path key) value.${key}) (builtins.attrNames value)
    else [ "${path}: a value where upstream has a group of options" ];

  # Path pass: every branch, enabled or not (NixOS rejects an unknown option
  # even under a false mkIf), with every layer's block filled in so that
  # disabled branches evaluate; only attribute names are looked at.
  filled = {
    yggdrasil = { peers = [ ]; address = "200::1"; };
    zerotier = { networkId = "a8a2c3c10c1a68de"; address = "10.147.17.2"; };
    wireguard = { address = "10.77.0.2/24"; listenPort = 51820; privateKeyFile = "/k"; peers = [ ]; };
    tinc = { hostName = null; address = "10.78.0.2/24"; peers = [ ]; };
  };
  # A false mkIf in the enabled pass: nothing defined (NixOS's meaning), also
  # for options that are not attribute sets.
  unset = value: builtins.isAttrs value && value ? __hibossUnset;
  onlyEnabled = { mkIf = condition: content: if condition then content else { __hibossUnset = true; }; };
  keepAll = { mkIf = _: content: content; mkDefault = value: value; };
  pathsOnly = node: path: value:
    if node == null then [ "${path}: no such option upstream (${declarations.nixpkgs.repo}@${builtins.substring 0 12 declarations.nixpkgs.commit})" ]
    else if node ? _option then [ ]
    else builtins.concatMap (key: pathsOnly ((children node).${key} or null) (join path key) value.${key}) (builtins.attrNames value);

  problemsOf = name: entry:
    let
      everyBranch = (settingsFor keepAll { inherit name; hiboss = filled // { ${entry.hiboss.networkLayer} = entry.hiboss.${entry.hiboss.networkLayer}; } // builtins.removeAttrs entry.hiboss (builtins.attrNames filled); }).settings;
      # The config's VM that is no member, then each member's VM.
      enabled = self: (settingsFor onlyEnabled { inherit name self; inherit (entry) hiboss; }).settings;
      selves = [ null ] ++ builtins.attrNames entry.hiboss.members;
      at = self: if self == null then name else "${name}@${self}";
    in
    map (problem: "${name}: ${problem}") (pathsOnly trie "" everyBranch ++ walk trie "" moduleExtras ++ walk trie "" extra)
    ++ builtins.concatMap (self: map (problem: "${at self}: ${problem}") (walk trie "" (enabled self))) selves;
in
builtins.concatLists (builtins.attrValues (builtins.mapAttrs problemsOf shaped))
