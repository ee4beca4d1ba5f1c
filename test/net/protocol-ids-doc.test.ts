/**
 * docs/protocol.md is what a client or node in another language is written from: the protocol ids of
 * section 4 must be the ids a node serves (a peer that negotiates another id gets `na` and is
 * NODE_UNAVAILABLE), and the stream caps of section 3 the ones it registers them with. The doc's own
 * table is the oracle here, read from the file, so a change to either side fails.
 */
import { readFileSync } from 'node:fs'
import type { StreamHandlerOptions } from '@libp2p/interface'
import { describe, expect, it } from 'vitest'
import type { StorageEngine } from '../../src/engine/engine.js'
import type { NodeService } from '../../src/engine/node-service.js'
import { type Registrar, storageProtocol } from '../../src/net/service.js'

const doc = readFileSync(new URL('../../docs/protocol.md', import.meta.url), 'utf8')
const section4 = doc.slice(doc.indexOf('## 4. Protocols'), doc.indexOf('**ERROR frame or Failure answer.**'))
/** The first column of the section 4 table: every protocol id a node serves, with its version. */
const documentedIds = [...section4.matchAll(/^\| `(\/qfs\/storage\/[^`]+)` \|/gm)].map((m) => m[1]!)

/** The options each protocol id was registered with, as a started node's service gives them to libp2p. */
async function registered(withEngine: boolean): Promise<Map<string, StreamHandlerOptions | undefined>> {
  const options = new Map<string, StreamHandlerOptions | undefined>()
  const registrar: Registrar = {
    handle: async (protocol, _handler, opts) => {
      options.set(protocol, opts)
    },
    unhandle: async (protocol) => {
      options.delete(protocol)
    },
  }
  const service = storageProtocol({
    node: { nodeId: 'stub' } as unknown as NodeService,
    engine: withEngine ? ({} as unknown as StorageEngine) : undefined,
  })({ registrar })
  await service.start()
  return options
}

const id = (name: string) => documentedIds.find((d) => d.startsWith(`/qfs/storage/${name}/`))

describe('docs/protocol.md section 4 protocol ids', () => {
  it('lists 13 protocols, each /qfs/storage/<op>/<major.minor.patch>', () => {
    expect(documentedIds).toHaveLength(13)
    for (const d of documentedIds) expect(d).toMatch(/^\/qfs\/storage\/[a-z_/]+\/\d+\.\d+\.\d+$/)
  })

  it('are exactly the ids a node with an engine serves', async () => {
    expect([...(await registered(true)).keys()].sort()).toEqual([...documentedIds].sort())
  })

  it('keep the versions the doc gives: public 1.0.0, replica/commit 1.1.0, replica/list and replica/rpc 1.2.0', () => {
    for (const name of ['write', 'read', 'get_proof', 'list_objects'])
      expect(id(name)).toBe(`/qfs/storage/${name}/1.0.0`)
    expect(id('replica/commit')).toBe('/qfs/storage/replica/commit/1.1.0')
    expect(id('replica/list')).toBe('/qfs/storage/replica/list/1.2.0')
    expect(id('replica/rpc')).toBe('/qfs/storage/replica/rpc/1.2.0')
  })

  it('serves only the replica/* ids without an engine ("served by NodeService")', async () => {
    const served = [...(await registered(false)).keys()].sort()
    expect(served).toEqual(documentedIds.filter((d) => d.startsWith('/qfs/storage/replica/')).sort())
  })
})

describe('docs/protocol.md section 3 stream limits per connection', () => {
  it('takes 64 inbound streams per data protocol, 4 replica channels and 256 of each other protocol', async () => {
    const options = await registered(true)
    const inbound = Object.fromEntries([...options].map(([p, o]) => [p, o?.maxInboundStreams]))
    const expected: Record<string, number> = {}
    for (const d of documentedIds) expected[d] = 256
    for (const name of ['write', 'read', 'replica/push', 'replica/fetch']) expected[id(name)!] = 64
    expected[id('replica/rpc')!] = 4
    expect(inbound).toEqual(expected)
  })

  it('are the figures docs/sdk.md gives a client: a 65th write or read stream reset, a 257th get_proof or list_objects one', async () => {
    const sdkDoc = readFileSync(new URL('../../docs/sdk.md', import.meta.url), 'utf8').replace(/\s+/g, ' ')
    const said =
      /resets a (\d+)th `write` or `read` stream open at once on one connection \(a (\d+)th `get_proof` or `list_objects` one\)/.exec(
        sdkDoc,
      )
    expect(said, 'docs/sdk.md "Many calls at once" states the stream caps').not.toBeNull()
    const options = await registered(true)
    const cap = (name: string) => options.get(id(name)!)?.maxInboundStreams
    expect([cap('write'), cap('read')]).toEqual([Number(said![1]) - 1, Number(said![1]) - 1])
    expect([cap('get_proof'), cap('list_objects')]).toEqual([Number(said![2]) - 1, Number(said![2]) - 1])
  })

  it('opens at most 256 outbound streams per protocol', async () => {
    for (const [protocol, o] of await registered(true)) expect(o?.maxOutboundStreams, protocol).toBe(256)
  })
})
