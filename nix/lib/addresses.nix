# Address text helpers shared by service-settings.nix and member-view.nix (builtins only).
rec {
  stripPrefix = cidr: builtins.head (builtins.split "/" cidr);
  prefixLength = cidr: builtins.fromJSON (builtins.elemAt (builtins.split "/" cidr) 2);
  isIPv6 = address: builtins.match ".*:.*" address != null;
  bracketed = address: if isIPv6 address then "[${address}]" else address;
  # A single address as a subnet: /32 or /128.
  hostPrefix = address: if isIPv6 address then 128 else 32;

  # "host", "host:port", "[v6]", "[v6]:port" -> { address; port or null }
  parseHostPort = text:
    let
      parts =
        if builtins.substring 0 1 text == "["
        then builtins.match "\\[([^]]+)](:([0-9]+))?" text
        else builtins.match "([^:]+)(:([0-9]+))?" text;
      port = builtins.elemAt parts 2;
    in
    {
      address = builtins.elemAt parts 0;
      port = if port == null then null else builtins.fromJSON port;
    };
}
