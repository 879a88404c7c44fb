// Allowed networks: which client addresses may relay without AUTH, with
// IPv4 clients that a dual-stack listener reports as IPv4-mapped IPv6
// matched as IPv4, whichever form the allowed network is written in.
import type os from 'node:os';
import { describe, expect, it } from 'vitest';
import { AllowedNetworks, interfaceNetworks, LOOPBACK_NETWORKS } from '../core/networks.ts';

describe('AllowedNetworks.contains', () => {
  const networks = new AllowedNetworks(['127.0.0.1/32', '192.168.1.0/24', 'fd00::/8']);

  it('matches IPv4 and IPv6 clients', () => {
    expect(networks.contains('127.0.0.1')).toBe(true);
    expect(networks.contains('127.0.0.2')).toBe(false);
    expect(networks.contains('192.168.1.254')).toBe(true);
    expect(networks.contains('192.168.2.1')).toBe(false);
    expect(networks.contains('fd12:3456::1')).toBe(true);
    expect(networks.contains('2001:db8::1')).toBe(false);
  });

  it('matches IPv4-mapped clients as IPv4', () => {
    expect(networks.contains('::ffff:127.0.0.1')).toBe(true);
    expect(networks.contains('::ffff:127.0.0.2')).toBe(false);
    expect(networks.contains('::ffff:192.168.1.20')).toBe(true);
    expect(networks.contains('::FFFF:192.168.1.20')).toBe(true);
    expect(networks.contains('::ffff:10.0.0.1')).toBe(false);
  });

  it('matches an IPv4-mapped network as IPv4', () => {
    // The same network written as IPv4-mapped IPv6, e.g. copied from a
    // dual-stack server's log.
    const mapped = new AllowedNetworks(['::ffff:192.168.1.0/120']);
    expect(mapped.contains('192.168.1.20')).toBe(true);
    expect(mapped.contains('::ffff:192.168.1.20')).toBe(true);
    expect(mapped.contains('192.168.2.20')).toBe(false);
    expect(mapped.cidrs).toEqual(['::ffff:192.168.1.0/120']);
  });

  it('rejects what is not an address', () => {
    expect(networks.contains(undefined)).toBe(false);
    expect(networks.contains('')).toBe(false);
    expect(networks.contains('localhost')).toBe(false);
    expect(new AllowedNetworks([]).contains('127.0.0.1')).toBe(false);
  });
});

describe('AllowedNetworks.fromSettings', () => {
  it('adds loopback and local subnets by default', () => {
    const networks = AllowedNetworks.fromSettings({ allow: ['10.0.0.0/8'], defaultAllow: true });
    for (const cidr of LOOPBACK_NETWORKS) expect(networks.cidrs).toContain(cidr);
    expect(networks.cidrs).toContain('10.0.0.0/8');
    expect(networks.contains('::1')).toBe(true);
    expect(networks.contains('127.0.0.9')).toBe(true);
  });

  it('allows only the given networks without defaults', () => {
    const networks = AllowedNetworks.fromSettings({ allow: ['127.0.0.1/32'], defaultAllow: false });
    expect(networks.cidrs).toEqual(['127.0.0.1/32']);
    expect(networks.contains('127.0.0.1')).toBe(true);
    expect(networks.contains('127.0.0.2')).toBe(false);
    expect(networks.contains('::1')).toBe(false);
  });
});

describe('interfaceNetworks', () => {
  it('lists each interface subnet once', () => {
    const entry = (address: string, cidr: string, family: 'IPv4' | 'IPv6'): os.NetworkInterfaceInfo =>
      ({ address, cidr, family, netmask: '', mac: '', internal: false, scopeid: 0 }) as os.NetworkInterfaceInfo;
    const interfaces = {
      eth0: [entry('192.168.1.17', '192.168.1.17/24', 'IPv4'), entry('fd00::17', 'fd00::17/64', 'IPv6')],
      eth1: [entry('192.168.1.18', '192.168.1.18/24', 'IPv4')],
    };
    expect(interfaceNetworks(interfaces)).toEqual(['192.168.1.0/24', 'fd00::/64']);
  });
});
