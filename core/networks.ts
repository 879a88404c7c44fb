/**
 * Allowed networks: which client addresses may relay without AUTH.
 *
 * The defaults are loopback and the subnets of this machine's own
 * interfaces, which is what an office relay on the LAN expects. IPv4
 * clients that arrive as IPv4-mapped IPv6 (`::ffff:192.0.2.1`, as on a
 * dual-stack listener) are matched as IPv4, and so are allowed networks
 * written that way (`::ffff:192.0.2.0/120`).
 */
import os from 'node:os';
import ipaddr from 'ipaddr.js';

type Network = [ipaddr.IPv4 | ipaddr.IPv6, number];

export const LOOPBACK_NETWORKS = ['127.0.0.0/8', '::1/128'] as const;

/** Lists the subnets of this machine's interfaces in CIDR notation. */
export function interfaceNetworks(
  interfaces: NodeJS.Dict<os.NetworkInterfaceInfo[]> = os.networkInterfaces(),
): string[] {
  const result: string[] = [];
  for (const entries of Object.values(interfaces)) {
    for (const entry of entries ?? []) {
      if (!entry.cidr) continue;
      const [address, bits] = ipaddr.parseCIDR(entry.cidr);
      result.push(`${networkAddress(address, bits)}/${bits}`);
    }
  }
  return [...new Set(result)];
}

function networkAddress(address: ipaddr.IPv4 | ipaddr.IPv6, bits: number): string {
  if (address.kind() === 'ipv4') {
    return ipaddr.IPv4.networkAddressFromCIDR(`${address.toString()}/${bits}`).toString();
  }
  return ipaddr.IPv6.networkAddressFromCIDR(`${address.toString()}/${bits}`).toString();
}

/** Rewrites an IPv4-mapped IPv6 network (prefix of 96 bits or more) as IPv4. */
function unmapNetwork([address, bits]: Network): Network {
  if (address.kind() !== 'ipv6' || bits < 96) return [address, bits];
  const ipv6 = address as ipaddr.IPv6;
  if (!ipv6.isIPv4MappedAddress()) return [address, bits];
  return [ipv6.toIPv4Address(), bits - 96];
}

export class AllowedNetworks {
  readonly #networks: Network[];
  readonly cidrs: readonly string[];

  constructor(cidrs: readonly string[]) {
    this.cidrs = [...new Set(cidrs)];
    this.#networks = this.cidrs.map((cidr) => unmapNetwork(ipaddr.parseCIDR(cidr)));
  }

  static fromSettings(settings: {
    readonly allow: readonly string[];
    readonly defaultAllow: boolean;
  }): AllowedNetworks {
    const defaults = settings.defaultAllow
      ? [...LOOPBACK_NETWORKS, ...interfaceNetworks()]
      : [];
    return new AllowedNetworks([...defaults, ...settings.allow]);
  }

  contains(remoteAddress: string | undefined): boolean {
    if (!remoteAddress || !ipaddr.isValid(remoteAddress)) return false;
    let address = ipaddr.parse(remoteAddress);
    if (address.kind() === 'ipv6' && (address as ipaddr.IPv6).isIPv4MappedAddress()) {
      address = (address as ipaddr.IPv6).toIPv4Address();
    }
    return this.#networks.some(
      ([network, bits]) => network.kind() === address.kind() && address.match(network, bits),
    );
  }
}
