import { type Multiaddr, multiaddr } from '@multiformats/multiaddr'

/**
 * The network source a connection's public slots are shared by (net/slot-share.ts): its IPv4
 * address; for IPv6 its /48 prefix (an IPv4-mapped address counts as the IPv4 address); any other
 * address whole. Peer ids cost nothing to mint; IPv4 addresses do, but a single IPv6 /64 is what one
 * host is given and a /48 comes free from a tunnel broker (65,536 /64s), so IPv6 clients are judged
 * by the /48 a site is usually given: a client cannot multiply its share across its prefixes, at the
 * cost of clients of one site sharing one share while slots are short.
 */
export function sourceOf(addr: Multiaddr): string {
  // A zone (`/ip6zone/eth0/ip6/fe80::1`) names an interface, not a host: the address after it counts.
  const first = addr.getComponents().find((c) => c.name !== 'ip6zone')
  if (first?.value === undefined) return addr.toString()
  if (first.name === 'ip4') return first.value
  if (first.name !== 'ip6') return first.value
  const groups = ip6Groups(first.value)
  if (groups === undefined) return first.value
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff)
    return [groups[6]! >> 8, groups[6]! & 0xff, groups[7]! >> 8, groups[7]! & 0xff].join('.')
  return `${groups
    .slice(0, 3)
    .map((g) => g.toString(16))
    .join(':')}::/48`
}

/** The eight 16-bit groups of an IPv6 address, or undefined if it is not one. */
function ip6Groups(text: string): number[] | undefined {
  let canonical: string
  try {
    // The WHATWG URL parser validates and writes the address in its compressed form, with an IPv4
    // tail turned into two hex groups and no zone: what is left is hex groups around at most one `::`.
    canonical = new URL(`http://[${text.split('%')[0]}]/`).hostname.slice(1, -1)
  } catch {
    return undefined
  }
  const [head, tail] = canonical.split('::') as [string, string | undefined]
  const parse = (part: string) => (part === '' ? [] : part.split(':').map((g) => Number.parseInt(g, 16)))
  const front = parse(head)
  if (tail === undefined) return front.length === 8 ? front : undefined
  const back = parse(tail)
  return [...front, ...new Array<number>(8 - front.length - back.length).fill(0), ...back]
}

/**
 * How many eligible nodes have an address at a source (their snapshot entries' multiaddrs, each
 * node counted once per source): computed again only when `entries()` answers another list (a new
 * epoch), so a connection costs one lookup. A multiaddr that does not parse counts for nothing, and
 * a `/dns*` name is not resolved: a connection comes from an address, so a node that announces only
 * names gets none of what is kept for members' addresses (a lookup per epoch, sharing libuv's
 * threads with the disk, and an outbound address that need not be the announced one, for a gain
 * only under attack).
 */
export function memberSources(
  entries: () => readonly { readonly multiaddrs: readonly string[] }[] | undefined,
): (source: string) => number {
  let seen: readonly unknown[] | undefined
  let sources = new Map<string, number>()
  return (source) => {
    const list = entries()
    if (list !== seen) {
      seen = list
      sources = new Map()
      for (const entry of list ?? []) {
        const own = new Set<string>()
        for (const text of entry.multiaddrs) {
          try {
            own.add(sourceOf(multiaddr(text)))
          } catch {}
        }
        for (const s of own) sources.set(s, (sources.get(s) ?? 0) + 1)
      }
    }
    return sources.get(source) ?? 0
  }
}
