import { multiaddr } from '@multiformats/multiaddr'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { memberSources, sourceOf } from '../../src/net/source-address.js'

const hex = (g: number) => g.toString(16)
const ip6 = fc.array(fc.integer({ min: 0, max: 0xffff }), { minLength: 8, maxLength: 8 })

/** The longest run of zero groups (two or more) written as `::`, leading zeros kept, upper case. */
function compressed(groups: number[]): string {
  let best = [-1, 0]
  for (let i = 0; i < 8; ) {
    let j = i
    while (j < 8 && groups[j] === 0) j++
    if (j - i > best[1]!) best = [i, j - i]
    i = j === i ? i + 1 : j
  }
  const text = groups.map((g) => g.toString(16).padStart(4, '0').toUpperCase())
  if (best[1]! < 2) return text.join(':')
  return `${text.slice(0, best[0]).join(':')}::${text.slice(best[0]! + best[1]!).join(':')}`
}

describe('sourceOf', () => {
  it('is the IPv4 address of an IPv4 connection', () => {
    expect(sourceOf(multiaddr('/ip4/203.0.113.7/tcp/4001'))).toBe('203.0.113.7')
  })

  it('is the /48 prefix of an IPv6 address however it is written (property)', () => {
    fc.assert(
      fc.property(ip6, fc.boolean(), (groups, compress) => {
        // An IPv4-mapped address is the IPv4 case below.
        fc.pre(!(groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff))
        const text = compress
          ? compressed(groups)
          : groups.map((g) => g.toString(16).padStart(4, '0')).join(':')
        expect(sourceOf(multiaddr(`/ip6/${text}/tcp/1`))).toBe(
          `${groups.slice(0, 3).map(hex).join(':')}::/48`,
        )
      }),
      { seed: 0x1964, numRuns: 500 },
    )
  })

  it('puts two addresses together exactly when their first 48 bits agree (property)', () => {
    fc.assert(
      fc.property(ip6, ip6, (a, b) => {
        fc.pre(a[5] !== 0xffff && b[5] !== 0xffff)
        const same = a.slice(0, 3).every((g, i) => g === b[i])
        const of = (g: number[]) => sourceOf(multiaddr(`/ip6/${g.map(hex).join(':')}/tcp/1`))
        expect(of(a) === of(b)).toBe(same)
        const sibling = [...a.slice(0, 3), ...b.slice(3)]
        expect(of(sibling)).toBe(of(a))
      }),
      { seed: 0x64, numRuns: 300 },
    )
  })

  it('counts an IPv4-mapped IPv6 address as its IPv4 address', () => {
    expect(sourceOf(multiaddr('/ip6/::ffff:198.51.100.9/tcp/1'))).toBe('198.51.100.9')
  })

  it('keeps the other addresses of ::/96 in their /48: only the mapped ones are IPv4', () => {
    for (const text of ['::198.51.100.9', '::1', '::1:0:0:1'])
      expect(sourceOf(multiaddr(`/ip6/${text}/tcp/1`))).toBe('0:0:0::/48')
  })

  it('skips an IPv6 zone: the address after it counts', () => {
    expect(sourceOf(multiaddr('/ip6zone/eth0/ip6/fe80::1:2:3:4/tcp/1'))).toBe('fe80:0:0::/48')
  })

  it('keeps any other address whole', () => {
    expect(sourceOf(multiaddr('/dns4/example.com/tcp/1'))).toBe('example.com')
  })
})

describe('memberSources', () => {
  it('counts the nodes with an address at a source, and again for a new list', () => {
    let nodes: { multiaddrs: string[] }[] | undefined = [
      { multiaddrs: ['/ip4/10.0.0.1/tcp/4001', '/ip6/2001:db8:1:2::5/tcp/4001', '/ip4/10.0.0.1/tcp/4002'] },
      { multiaddrs: ['not a multiaddr', '/dns4/node.example/tcp/4001'] },
      { multiaddrs: ['/ip4/10.0.0.1/tcp/4003'] },
    ]
    const membersAt = memberSources(() => nodes)
    // Two nodes there, the first with two addresses at it: each node counts once.
    expect(membersAt('10.0.0.1')).toBe(2)
    // An IPv6 member is known by its /48, as slot sharing counts it.
    expect(membersAt(sourceOf(multiaddr('/ip6/2001:db8:1:ffff::9/tcp/1')))).toBe(1)
    expect(membersAt('10.0.0.2')).toBe(0)
    nodes = [{ multiaddrs: ['/ip4/10.0.0.2/tcp/4001'] }]
    expect(membersAt('10.0.0.1')).toBe(0)
    expect(membersAt('10.0.0.2')).toBe(1)
    nodes = undefined
    expect(membersAt('10.0.0.2')).toBe(0)
  })
})
