# configs.json (parsed) -> { NAME = { name; system; hiboss = { … all options, defaults filled … }; }; }
#
# Builtins only, so CI can evaluate it without nixpkgs. It rejects anything the
# zod schema (networks/configs-schema.ts) rejects, with the same
# `NAME.path: message` wording, so a hand-edited configs.json fails the same
# way in the wizard and in `nix build`.
configs:
let
  spec = import ./options-spec.nix;
  semanticProblems = import ./checks.nix;

  fail = path: message: throw "hiboss configs.json: ${path}: ${message}";
  join = path: key: if path == "" then key else "${path}.${key}";
  matches = pattern: value: builtins.match pattern value != null;
  describe = value:
    let t = builtins.typeOf value; in
    if t == "set" then "object" else if t == "list" then "array" else if t == "int" || t == "float" then "number" else t;

  # Returns the value with defaults filled in, or throws at the first problem.
  checkNode = path: node: value:
    let
      t = node.type;
      # Worded as zod words it, so the wizard and nix build report the same.
      expect = what: fail path "Invalid input: expected ${what}, received ${describe value}";
    in
    if t == "bool" then (if builtins.isBool value then value else expect "boolean")
    else if t == "port" then
      (if builtins.isInt value && value >= 1 && value <= 65535 then value else expect "a port number (1–65535)")
    else if t == "str" then
      (if !builtins.isString value then expect "string"
       else if node ? maxLength && builtins.stringLength value > node.maxLength then fail path "at most ${toString node.maxLength} characters"
       else if node ? pattern && !matches node.pattern value then fail path "\"${value}\" is not valid here"
       else value)
    else if t == "enum" then
      (if builtins.isString value && builtins.elem value node.values then value
       else fail path "expected one of ${builtins.concatStringsSep ", " node.values}")
    else if t == "nullOr" then (if value == null then null else checkNode path node.elem value)
    else if t == "listOf" then
      (if !builtins.isList value then expect "array"
       else if node ? maxItems && builtins.length value > node.maxItems then fail path "at most ${toString node.maxItems} items"
       else builtins.genList (i: checkNode (join path (toString i)) node.elem (builtins.elemAt value i)) (builtins.length value))
    else if t == "attrsOf" then
      (if !builtins.isAttrs value then expect "record"
       else if node ? maxItems && builtins.length (builtins.attrNames value) > node.maxItems then fail path "at most ${toString node.maxItems} entries"
       else
         let badKeys = builtins.filter (key: !matches node.keyPattern key) (builtins.attrNames value); in
         if badKeys != [ ] then fail (join path (builtins.head badKeys)) "names are 1–32 of A–Z a–z 0–9 _ -"
         else builtins.mapAttrs (key: checkNode (join path key) node.elem) value)
    else if t == "submodule" then checkObject path node.options value
    else throw "options-spec.nix: unknown node type ${t} at ${path}";

  checkObject = path: options: value:
    if !builtins.isAttrs value then fail path "Invalid input: expected object, received ${describe value}"
    else
      let
        unknown = builtins.filter (key: !(options ? ${key})) (builtins.attrNames value);
      in
      if unknown != [ ] then fail (join path (builtins.head unknown)) "unknown key"
      else builtins.mapAttrs
        (key: node:
          if value ? ${key} then checkNode (join path key) node value.${key}
          else if node ? default || node.type == "submodule" then defaultOf node
          else fail (join path key) "required")
        options;

  # A submodule's default is its options' defaults.
  defaultOf = node: if node.type == "submodule" then builtins.mapAttrs (_: defaultOf) node.options else node.default;

  layerNames = spec.options.networkLayer.values;

  shapeEntry = name: entry:
    let
      hibossRaw = if builtins.isAttrs entry then builtins.removeAttrs entry [ "system" ] else entry;
      system =
        if !(builtins.isAttrs entry && entry ? system) then spec.defaultSystem
        else if builtins.elem entry.system spec.systems then entry.system
        else fail "${name}.system" "expected one of ${builtins.concatStringsSep ", " spec.systems}";
      hiboss = checkObject name spec.options hibossRaw;
      # A block for a layer that is not used is a mistake (and would be silently ignored).
      strayLayers = builtins.filter (layer: layer != hiboss.networkLayer && hibossRaw ? ${layer}) layerNames;
      problems = semanticProblems { inherit hiboss; };
      firstProblem = builtins.head problems;
    in
    if !(builtins.match spec.patterns.name name != null) then fail name "config names are 1–32 of A–Z a–z 0–9 _ -"
    else if strayLayers != [ ] then
      fail "${name}.${builtins.head strayLayers}" "set, but networkLayer is ${hiboss.networkLayer}"
    else if problems != [ ] then fail "${name}.${firstProblem.path}" firstProblem.message
    else builtins.deepSeq hiboss { inherit name system hiboss; };
  # Rules across configs (one network: member names and addresses), members.nix.
  withNetworkChecked = shaped:
    let problems = (import ./members.nix).problems shaped; in
    if problems == [ ] then shaped else fail (builtins.head problems).path (builtins.head problems).message;
in
if !builtins.isAttrs configs then fail "(root)" "Invalid input: expected record, received ${describe configs}"
else if configs == { } then fail "(root)" "needs at least one config"
else withNetworkChecked (builtins.mapAttrs shapeEntry configs)
