/**
 * The defaults, bounds and progress events docs/sdk.md gives (Connecting, Reading, Deadlines, Many
 * calls at once), written as the page states them. Other tests check each behaviour against the
 * constant; here the constant is checked against the page, and progress against its stated shape.
 */
import { readFileSync } from 'node:fs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { objectId } from '../../src/core/ids.js'
import { DEFAULT_PARAMS } from '../../src/core/params.js'
import { resolveCallLimits } from '../../src/sdk/call-slots.js'
import { resolveTimeouts } from '../../src/sdk/client-options.js'
import * as sdk from '../../src/sdk/index.js'
import type { Libp2pNetwork } from '../net/harness.js'
import { networkClient } from './harness.js'

describe('docs/sdk.md defaults and bounds', () => {
  it('timeouts: requestMs 10 s, idleMs 30 s, queueMs 90 s; each whole milliseconds in 1..2147483647', () => {
    expect(resolveTimeouts(undefined)).toEqual({ requestMs: 10_000, idleMs: 30_000, queueMs: 90_000 })
    expect(sdk.DEFAULT_QUEUE_MS).toBe(90_000)
    for (const name of ['requestMs', 'idleMs', 'queueMs'] as const) {
      expect(resolveTimeouts({ [name]: 1 })[name]).toBe(1)
      expect(resolveTimeouts({ [name]: 2_147_483_647 })[name]).toBe(2_147_483_647)
      for (const bad of [0, 2_147_483_648, 1.5])
        expect(() => resolveTimeouts({ [name]: bad }), `${name} ${bad}`).toThrow(
          expect.objectContaining({ code: 'INVALID_INPUT' }),
        )
    }
  })

  it('maxConcurrent: 32 writes, 32 reads, 8 proofs, 2 listings; each 1..1024', () => {
    expect(sdk.DEFAULT_CALL_LIMITS).toEqual({ writes: 32, reads: 32, proofs: 8, listings: 2 })
    expect(resolveCallLimits({ writes: 1, reads: 1024 })).toMatchObject({ writes: 1, reads: 1024 })
  })

  it('getContent buffers at most 1 GiB by default (MAX_BUFFERED_CONTENT_BYTES)', () => {
    expect(sdk.MAX_BUFFERED_CONTENT_BYTES).toBe(2 ** 30)
  })

  it("exports what the page imports or names from the SDK's index", () => {
    for (const name of [
      'QfsClient',
      'AtlasAPIGateway',
      'EngineNotSetError',
      'ClientClosedError',
      'latestVersion',
      'writeNextVersion',
      'objectId',
      'shardId',
      'failureCause',
      'parseNodeAddress',
      'checkStoreAnswer',
      'checkReadHeader',
      'checkReadTrailer',
      'checkListing',
      'checkProofAnswer',
      'DEFAULT_PARAMS',
      'DEFAULT_CALL_LIMITS',
      'MAX_BUFFERED_CONTENT_BYTES',
      'InvalidInputError',
      'QfsError',
    ])
      expect(Object.keys(sdk), name).toContain(name)
    expect(sdk.DEFAULT_PARAMS).toBe(DEFAULT_PARAMS)
  })

  it('create throws the exported InvalidInputError, a QfsError, for a malformed address', async () => {
    const thrown = await sdk.QfsClient.create({ node: '/ip4/127.0.0.1/tcp/1' }).catch((err: unknown) => err)
    expect(thrown).toBeInstanceOf(sdk.InvalidInputError)
    expect(thrown).toBeInstanceOf(sdk.QfsError)
    expect(thrown).toMatchObject({ code: 'INVALID_INPUT' })
  })
})

describe('docs/sdk.md progress events', () => {
  let net: Libp2pNetwork
  let client: sdk.QfsClient
  const id = objectId('sdk-doc', 'progress')
  const size = 3 * DEFAULT_PARAMS.blockSizeBytes + 17
  beforeAll(async () => {
    ;({ net, client } = await networkClient(4))
  })
  afterAll(async () => {
    await client?.close()
    await net?.close()
  })

  it("a write reports { phase: 'stage', bytes, total }, bytes handed to the node so far, up to total", async () => {
    const seen: unknown[] = []
    const put = await client.putContent(
      id,
      1,
      new Uint8Array(size).fill(9),
      { author_node_id: 'p', created_at_tick: 1 },
      {
        onProgress: (p) => seen.push({ ...p }),
      },
    )
    expect(put.ok).toBe(true)
    expect(seen.length).toBeGreaterThan(0)
    let last = 0
    for (const p of seen as { phase: string; bytes: number; total: number }[]) {
      expect(Object.keys(p).sort()).toEqual(['bytes', 'phase', 'total'])
      expect(p).toMatchObject({ phase: 'stage', total: size })
      expect(p.bytes).toBeGreaterThanOrEqual(last)
      last = p.bytes
    }
    expect(last).toBe(size)
  })

  it('a read reports { bytes, total }, the bytes received, up to total', async () => {
    const seen: { bytes: number; total: number }[] = []
    const got = await client.getContent(id, 1, { onProgress: (p) => seen.push({ ...p }) })
    expect(got.ok).toBe(true)
    expect(seen.length).toBeGreaterThan(0)
    for (const p of seen) expect(Object.keys(p).sort()).toEqual(['bytes', 'total'])
    expect(seen.every((p) => p.total === size)).toBe(true)
    expect(seen.map((p) => p.bytes)).toEqual([...seen.map((p) => p.bytes)].sort((a, b) => a - b))
    expect(seen.at(-1)!.bytes).toBe(size)
  })
})

describe('docs/sdk.md Setting up', () => {
  const page = readFileSync(new URL('../../docs/sdk.md', import.meta.url), 'utf8').replace(/\s+/g, ' ')
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
    engines: { node: string }
    dependencies: Record<string, string>
  }
  const major = (range: string) => Number(/(\d+)/.exec(range)![1])

  it('states the Node.js the package requires and the majors of the libp2p packages a program pairs with it', () => {
    expect(page).toContain(`needs **Node.js ${major(pkg.engines.node)} or later**`)
    const said =
      /same major versions as (?:# )?qfs-node's package\.json \(libp2p (\d+), @libp2p\/tcp (\d+), noise (\d+), yamux (\d+), @libp2p\/ping (\d+)\)/.exec(
        page,
      )
    expect(said, 'the page names the majors').not.toBeNull()
    const names = [
      'libp2p',
      '@libp2p/tcp',
      '@chainsafe/libp2p-noise',
      '@chainsafe/libp2p-yamux',
      '@libp2p/ping',
    ]
    expect(names.map((n) => major(pkg.dependencies[n]!))).toEqual(said!.slice(1, 6).map(Number))
  })
})
