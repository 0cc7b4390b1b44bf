# The attribute paths of the leaves of a nested set of settings (stopping at
# packages), e.g. { a.b = 1; c = pkg; } -> [ [ "a" "b" ] [ "c" ] ]: the options a
# set of settings defines, to read each back through the real modules.
lib:
let
  walk = path: value:
    if builtins.isAttrs value && !lib.isDerivation value
    then lib.concatLists (lib.mapAttrsToList (key: walk (path ++ [ key ])) value)
    else [ path ];
in
walk [ ]
