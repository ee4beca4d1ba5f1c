import { describe, expect, it } from 'vitest'
import { DEFAULT_PARAMS } from '../../src/core/params.js'
import { StaticMembership } from '../../src/membership/static.js'

// The fixed membership of the in-process mini-network: one epoch, its node list as given.

describe('StaticMembership', () => {
  it('answers its one epoch, and no other', () => {
    const m = new StaticMembership({ nodes: ['b', 'a', 'c'], epoch: 4, startTick: 40 })
    expect(m.current()).toMatchObject({ epoch: 4, startTick: 40, params: DEFAULT_PARAMS })
    expect(m.current().eligible.nodes).toEqual(['a', 'b', 'c'])
    expect(m.at(4)).toBe(m.current())
    expect(m.at(3)).toBeUndefined()
  })

  it('refuses a node id listed twice (INVALID_INPUT), as a snapshot does', () => {
    expect(() => new StaticMembership({ nodes: ['a', 'b', 'a'] })).toThrow(
      expect.objectContaining({ code: 'INVALID_INPUT', message: 'duplicate node id in membership' }),
    )
    expect(
      () =>
        new StaticMembership({
          nodes: ['a', { node_id: 'a', multiaddrs: ['/ip4/127.0.0.1/tcp/1'], mldsa_public_key: '' }],
        }),
    ).toThrow(expect.objectContaining({ code: 'INVALID_INPUT' }))
  })
})
