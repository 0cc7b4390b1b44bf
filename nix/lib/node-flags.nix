# node's flags from a script's shebang (`#!/usr/bin/env -S node --a --b` → [ "--a" "--b" ]),
# read the way `hiboss systemd-unit` reads them (cli/verbs/systemd-unit.ts): a wrapper that
# runs node itself (makeWrapper) must pass them, or the script runs without them.
script:
let
  firstLine = builtins.head (builtins.split "\n" (builtins.readFile script));
  afterNode = builtins.match "#![^\n]*[ /]node[ \t]+(.*)" firstLine;
  words = if afterNode == null then [ ] else builtins.split "[ \t]+" (builtins.head afterNode);
in
builtins.filter (word: builtins.isString word && word != "") words
