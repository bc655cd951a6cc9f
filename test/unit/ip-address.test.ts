import { describe, expect, it } from 'vitest';
import { type AddressClass, classifyAddress, isPublicAddress } from '../../src/domain/ip-address.js';

/** Every row: an address's text and the class the SSRF guard must give it. */
const CASES: Array<[string, AddressClass]> = [
  // IPv4 public
  ['8.8.8.8', 'public'],
  ['1.1.1.1', 'public'],
  ['93.184.215.14', 'public'],
  ['9.255.255.255', 'public'],
  ['11.0.0.0', 'public'],
  ['172.15.255.255', 'public'],
  ['172.32.0.0', 'public'],
  ['192.167.255.255', 'public'],
  ['192.169.0.0', 'public'],
  ['100.63.255.255', 'public'],
  ['100.128.0.0', 'public'],
  ['169.253.255.255', 'public'],
  ['169.255.0.0', 'public'],
  ['126.255.255.255', 'public'],
  ['128.0.0.0', 'public'],
  ['223.255.255.255', 'public'],
  ['198.17.255.255', 'public'],
  ['198.20.0.0', 'public'],
  // unspecified and "this network" 0/8
  ['0.0.0.0', 'unspecified'],
  ['0.0.0.1', 'reserved'],
  ['0.255.255.255', 'reserved'],
  // loopback 127/8
  ['127.0.0.1', 'loopback'],
  ['127.0.0.0', 'loopback'],
  ['127.255.255.255', 'loopback'],
  ['127.1.2.3', 'loopback'],
  // RFC 1918
  ['10.0.0.0', 'private'],
  ['10.255.255.255', 'private'],
  ['10.1.2.3', 'private'],
  ['172.16.0.0', 'private'],
  ['172.31.255.255', 'private'],
  ['172.20.10.1', 'private'],
  ['192.168.0.0', 'private'],
  ['192.168.255.255', 'private'],
  ['192.168.1.1', 'private'],
  // CGNAT 100.64/10
  ['100.64.0.0', 'shared'],
  ['100.127.255.255', 'shared'],
  ['100.100.100.200', 'shared'],
  // link-local 169.254/16, the cloud metadata address included
  ['169.254.0.0', 'link_local'],
  ['169.254.169.254', 'link_local'],
  ['169.254.255.255', 'link_local'],
  // multicast 224/4
  ['224.0.0.0', 'multicast'],
  ['224.0.0.251', 'multicast'],
  ['239.255.255.255', 'multicast'],
  // reserved 240/4, broadcast, protocol assignments, benchmarking
  ['240.0.0.0', 'reserved'],
  ['255.255.255.255', 'reserved'],
  ['192.0.0.1', 'reserved'],
  ['198.18.0.1', 'reserved'],
  ['198.19.255.255', 'reserved'],
  // IPv6 public
  ['2606:4700:4700::1111', 'public'],
  ['2001:4860:4860::8888', 'public'],
  ['2a00:1450:4007:80e::200e', 'public'],
  ['[2606:4700:4700::1111]', 'public'],
  ['::ffff:8.8.8.8', 'public'],
  ['::ffff:808:808', 'public'],
  ['64:ff9b::8.8.8.8', 'public'],
  // IPv6 unspecified and loopback
  ['::', 'unspecified'],
  ['0:0:0:0:0:0:0:0', 'unspecified'],
  ['::1', 'loopback'],
  ['0:0:0:0:0:0:0:1', 'loopback'],
  ['[::1]', 'loopback'],
  ['0000:0000:0000:0000:0000:0000:0000:0001', 'loopback'],
  // link-local fe80::/10
  ['fe80::1', 'link_local'],
  ['fe80::1%eth0', 'link_local'],
  ['febf:ffff::1', 'link_local'],
  ['FE80::ABCD', 'link_local'],
  // unique-local fc00::/7
  ['fc00::1', 'unique_local'],
  ['fd00::1', 'unique_local'],
  ['fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', 'unique_local'],
  ['fd00:ec2::254', 'unique_local'],
  // multicast ff00::/8
  ['ff02::1', 'multicast'],
  ['ff05::1:3', 'multicast'],
  // deprecated site-local, documentation, discard
  ['fec0::1', 'reserved'],
  ['2001:db8::1', 'reserved'],
  ['100::1', 'reserved'],
  // IPv4-mapped (dotted and hex), translated, compatible and NAT64 forms of non-public IPv4
  ['::ffff:127.0.0.1', 'loopback'],
  ['::ffff:7f00:1', 'loopback'],
  ['0:0:0:0:0:ffff:7f00:1', 'loopback'],
  ['[::ffff:127.0.0.1]', 'loopback'],
  ['::ffff:10.0.0.1', 'private'],
  ['::ffff:a00:1', 'private'],
  ['::ffff:192.168.1.1', 'private'],
  ['::ffff:172.16.0.1', 'private'],
  ['::ffff:169.254.169.254', 'link_local'],
  ['::ffff:a9fe:a9fe', 'link_local'],
  ['::ffff:100.64.0.1', 'shared'],
  ['::ffff:0.0.0.0', 'unspecified'],
  ['::ffff:224.0.0.1', 'multicast'],
  ['::ffff:0:127.0.0.1', 'loopback'],
  ['::127.0.0.1', 'loopback'],
  ['::10.0.0.1', 'private'],
  ['64:ff9b::127.0.0.1', 'loopback'],
  ['64:ff9b::a9fe:a9fe', 'link_local'],
  // not addresses
  ['', 'invalid'],
  ['localhost', 'invalid'],
  ['256.0.0.1', 'invalid'],
  ['1.2.3', 'invalid'],
  ['1.2.3.4.5', 'invalid'],
  ['01.2.3.4', 'invalid'],
  ['1.2.3.-4', 'invalid'],
  ['::1::1', 'invalid'],
  ['1:2:3:4:5:6:7:8:9', 'invalid'],
  ['1:2:3:4:5:6:7', 'invalid'],
  ['1:2:3:4:5:6:7::8', 'invalid'],
  // documentation ranges, and tunnels that reach an address they embed or hide (a reviewer's finds)
  ['192.0.2.1', 'reserved'],
  ['198.51.100.7', 'reserved'],
  ['203.0.113.9', 'reserved'],
  ['2002:a9fe:a9fe::', 'link_local'],
  ['2002:7f00:1::1', 'loopback'],
  ['2002:0a00:0001::', 'private'],
  ['2002:0808:0808::1', 'public'],
  ['2001:0:4136:e378:8000:63bf:3fff:fdd2', 'reserved'],
  ['64:ff9b:1::a9fe:a9fe', 'reserved'],
  ['12345::1', 'invalid'],
  ['g::1', 'invalid'],
  ['::ffff:300.0.0.1', 'invalid'],
];

describe('the SSRF guard classifies addresses', () => {
  it.each(CASES)('%s is %s', (address, expected) => {
    expect(classifyAddress(address)).toBe(expected);
    expect(isPublicAddress(address)).toBe(expected === 'public');
  });

  it('every address of the non-public IPv4 ranges is refused, their IPv4-mapped forms too', () => {
    const ranges: Array<[number[], number]> = [
      [[0, 0, 0, 0], 8],
      [[10, 0, 0, 0], 8],
      [[100, 64, 0, 0], 10],
      [[127, 0, 0, 0], 8],
      [[169, 254, 0, 0], 16],
      [[172, 16, 0, 0], 12],
      [[192, 168, 0, 0], 16],
      [[224, 0, 0, 0], 4],
      [[240, 0, 0, 0], 4],
    ];
    for (const [base, prefix] of ranges) {
      const start = base.reduce((n, b) => n * 256 + b, 0);
      const size = 2 ** (32 - prefix);
      // the first, the last and a spread of addresses between
      for (const offset of [0, 1, size >>> 1, size - 2, size - 1, Math.floor(size / 3)]) {
        const n = start + offset;
        const bytes = [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255];
        const dotted = bytes.join('.');
        expect(isPublicAddress(dotted), dotted).toBe(false);
        expect(isPublicAddress(`::ffff:${dotted}`), `::ffff:${dotted}`).toBe(false);
        const group = (hi: number, lo: number) => ((hi << 8) | lo).toString(16);
        const hex = `::ffff:${group(bytes[0]!, bytes[1]!)}:${group(bytes[2]!, bytes[3]!)}`;
        expect(isPublicAddress(hex), hex).toBe(false);
      }
      // the neighbours just outside the range are public (unless another range holds them)
      const after = start + size;
      const next = [after >>> 24, (after >>> 16) & 255, (after >>> 8) & 255, after & 255].join('.');
      if (!['11.0.0.0', '128.0.0.0', '1.0.0.0'].includes(next)) continue;
      expect(isPublicAddress(next), next).toBe(true);
    }
  });
});
