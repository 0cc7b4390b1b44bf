/**
 * The nftables ruleset NixOS's firewall (networking.nftables.enable = true)
 * loads for the given `networking.firewall` values, with NixOS's defaults
 * (allowPing, logRefusedConnections, checkReversePath, lo trusted): default
 * drop, established/related accepted, new connections through input-allow —
 * per-interface allowed ports, ping, ICMPv6, then extraInputRules. Written from
 * the structure of nixos/modules/services/networking/firewall-nftables.nix.
 */
import type { EvaluatedMember } from './member-config.js';

type Firewall = NonNullable<EvaluatedMember['networking']['firewall']>;

/** The prefix NixOS logs refused connections with (the test awaits it on the serial console). */
export const REFUSED_PREFIX = 'refused connection: ';

function allowLines(iface: string | undefined, ports: { allowedTCPPorts?: number[]; allowedUDPPorts?: number[] }): string[] {
  const match = iface === undefined ? '' : `iifname ${JSON.stringify(iface)} `;
  const lines: string[] = [];
  if (ports.allowedTCPPorts?.length) lines.push(`${match}tcp dport { ${ports.allowedTCPPorts.join(', ')} } accept`);
  if (ports.allowedUDPPorts?.length) lines.push(`${match}udp dport { ${ports.allowedUDPPorts.join(', ')} } accept`);
  return lines;
}

export function nftablesRuleset(firewall: Firewall = {}): string {
  const allow = [
    ...allowLines(undefined, firewall),
    ...Object.entries(firewall.interfaces ?? {}).flatMap(([iface, ports]) => allowLines(iface, ports)),
  ];
  return `flush ruleset
table inet nixos-fw {
  set temp-ports {
    type inet_proto . inet_service
    flags interval
    auto-merge
  }
  chain rpfilter {
    type filter hook prerouting priority mangle + 10; policy drop;
    meta nfproto ipv4 udp sport . udp dport { 67 . 68, 68 . 67 } accept
    fib saddr . mark . iif oif exists accept
    jump rpfilter-allow
    log level info prefix "rpfilter drop: "
  }
  chain rpfilter-allow {
  }
  chain input {
    type filter hook input priority filter; policy drop;
    iifname { "lo" } accept
    ct state vmap { invalid : drop, established : accept, related : accept, new : jump input-allow, untracked : jump input-allow }
    tcp flags syn / fin,syn,rst,ack log level info prefix "${REFUSED_PREFIX}"
  }
  chain input-allow {
${allow.map((line) => `    ${line}\n`).join('')}    meta l4proto . th dport @temp-ports accept
    icmp type echo-request accept
    icmpv6 type != { nd-redirect, 139 } accept
    ip6 daddr fe80::/64 udp dport 546 accept
${(firewall.extraInputRules ?? '').split('\n').filter((line) => line.trim()).map((line) => `    ${line.trim()}\n`).join('')}  }
}
`;
}
