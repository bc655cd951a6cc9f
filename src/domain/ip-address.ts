/**
 * Which IP addresses a webhook may be delivered to (the SSRF guard, src/webhooks/guard.ts): only public ones. Pure:
 * it parses the address's text itself, no lookup.
 */
export type AddressClass =
  | 'public'
  | 'unspecified'
  | 'loopback'
  | 'private'
  | 'shared'
  | 'link_local'
  | 'unique_local'
  | 'multicast'
  | 'reserved'
  | 'invalid';

/** The four bytes of a dotted IPv4 address, or undefined. */
function parseIPv4(text: string): number[] | undefined {
  const parts = text.split('.');
  if (parts.length !== 4) return undefined;
  const bytes: number[] = [];
  for (const part of parts) {
    if (!/^\d{1,3}$/.test(part) || (part.length > 1 && part.startsWith('0'))) return undefined;
    const value = Number(part);
    if (value > 255) return undefined;
    bytes.push(value);
  }
  return bytes;
}

/** The eight 16-bit groups of an IPv6 address (with `::` and a trailing dotted IPv4 allowed), or undefined. */
function parseIPv6(text: string): number[] | undefined {
  let rest = text;
  const zone = rest.indexOf('%');
  if (zone >= 0) rest = rest.slice(0, zone);
  const lastColon = rest.lastIndexOf(':');
  if (lastColon >= 0 && rest.slice(lastColon + 1).includes('.')) {
    // a trailing dotted IPv4 (::ffff:127.0.0.1) is two groups
    const v4 = parseIPv4(rest.slice(lastColon + 1));
    if (!v4) return undefined;
    const hex = (hi: number, lo: number) => ((hi << 8) | lo).toString(16);
    rest = `${rest.slice(0, lastColon + 1)}${hex(v4[0]!, v4[1]!)}:${hex(v4[2]!, v4[3]!)}`;
  }
  const halves = rest.split('::');
  if (halves.length > 2) return undefined;
  const groups = (half: string): number[] | undefined => {
    if (half === '') return [];
    const out: number[] = [];
    for (const g of half.split(':')) {
      if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return undefined;
      out.push(Number.parseInt(g, 16));
    }
    return out;
  };
  const head = groups(halves[0]!);
  if (!head) return undefined;
  if (halves.length === 1) {
    return head.length === 8 ? head : undefined;
  }
  const back = groups(halves[1]!);
  if (!back) return undefined;
  const missing = 8 - head.length - back.length;
  if (missing < 1) return undefined;
  return [...head, ...new Array<number>(missing).fill(0), ...back];
}

function classifyIPv4([a, b, c, d]: number[]): AddressClass {
  if (a === 0) return b === 0 && c === 0 && d === 0 ? 'unspecified' : 'reserved'; // 0/8 "this network"
  if (a === 127) return 'loopback';
  if (a === 10 || (a === 172 && b! >= 16 && b! <= 31) || (a === 192 && b === 168)) return 'private';
  if (a === 100 && b! >= 64 && b! <= 127) return 'shared'; // CGNAT 100.64/10
  if (a === 169 && b === 254) return 'link_local'; // includes the cloud metadata 169.254.169.254
  if (a === 192 && b === 0 && c === 0) return 'reserved'; // IETF protocol assignments
  if (a === 198 && (b === 18 || b === 19)) return 'reserved'; // benchmarking
  // documentation: 192.0.2/24, 198.51.100/24, 203.0.113/24
  if ((a === 192 && b === 0 && c === 2) || (a === 198 && b === 51 && c === 100) || (a === 203 && b === 0 && c === 113))
    return 'reserved';
  if (a! >= 224 && a! <= 239) return 'multicast';
  if (a! >= 240) return 'reserved'; // 240/4 and the broadcast 255.255.255.255
  return 'public';
}

function classifyIPv6(g: number[]): AddressClass {
  const [g0, g1, g2, g3, g4, g5, g6, g7] = g as [number, number, number, number, number, number, number, number];
  const zeroTo = (n: number) => g.slice(0, n).every((x) => x === 0);
  const v4 = [g6 >> 8, g6 & 0xff, g7 >> 8, g7 & 0xff];
  if (zeroTo(8)) return 'unspecified';
  if (zeroTo(7) && g7 === 1) return 'loopback';
  // IPv4-mapped ::ffff:a.b.c.d, IPv4-translated ::ffff:0:a.b.c.d, IPv4-compatible ::a.b.c.d, NAT64 64:ff9b::a.b.c.d
  if (zeroTo(5) && g5 === 0xffff) return classifyIPv4(v4);
  if (zeroTo(4) && g4 === 0xffff && g5 === 0) return classifyIPv4(v4);
  if (zeroTo(6)) return classifyIPv4(v4);
  if (g0 === 0x64 && g1 === 0xff9b && g2 === 0 && g3 === 0 && g4 === 0 && g5 === 0) return classifyIPv4(v4);
  // local-use NAT64 64:ff9b:1::/48: what it embeds is not at a fixed place, so it is never public
  if (g0 === 0x64 && g1 === 0xff9b && g2 === 1) return 'reserved';
  // 6to4 2002:a.b.c.d::/48 reaches the IPv4 address it embeds (2002:a9fe:a9fe:: is the metadata address)
  if (g0 === 0x2002) return classifyIPv4([g1 >> 8, g1 & 0xff, g2 >> 8, g2 & 0xff]);
  // Teredo 2001:0::/32 tunnels to an address it hides (obfuscated): never public
  if (g0 === 0x2001 && g1 === 0) return 'reserved';
  if ((g0 & 0xffc0) === 0xfe80) return 'link_local'; // fe80::/10
  if ((g0 & 0xfe00) === 0xfc00) return 'unique_local'; // fc00::/7
  if ((g0 & 0xff00) === 0xff00) return 'multicast'; // ff00::/8
  if ((g0 & 0xffc0) === 0xfec0) return 'reserved'; // deprecated site-local fec0::/10
  if (g0 === 0x2001 && g1 === 0xdb8) return 'reserved'; // documentation
  if (g0 === 0x100 && g1 === 0 && g2 === 0 && g3 === 0) return 'reserved'; // discard-only 100::/64
  return 'public';
}

/** The class of an IPv4 or IPv6 address's text (brackets around IPv6 allowed). */
export function classifyAddress(address: string): AddressClass {
  const text = address.startsWith('[') && address.endsWith(']') ? address.slice(1, -1) : address;
  if (text.includes(':')) {
    const groups = parseIPv6(text);
    return groups ? classifyIPv6(groups) : 'invalid';
  }
  const bytes = parseIPv4(text);
  return bytes ? classifyIPv4(bytes) : 'invalid';
}

/** Whether a webhook may be sent to this address (a public one). */
export const isPublicAddress = (address: string): boolean => classifyAddress(address) === 'public';
