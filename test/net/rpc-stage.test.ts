import { multiaddr } from '@multiformats/multiaddr'
import { sha3_256 } from '@noble/hashes/sha3.js'
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest'
import { toHex } from '../../src/core/bytes.js'
import { objectId, shardId } from '../../src/core/ids.js'
import { DEFAULT_PARAMS } from '../../src/core/params.js'
import { NodeUnavailableError } from '../../src/engine/errors.js'
import type { WholeShardRequest } from '../../src/engine/transport.js'
import { MAX_INLINE_SHARD_BYTES } from '../../src/net/rpc-messages.js'
import { Libp2pTransport } from '../../src/net/transport.js'
import { bytesOf } from '../engine/suite.js'
import { type Libp2pNetwork, libp2pHarness } from './harness.js'

/** Oracle: a shard of at most one block has root H(0x00 || block) (RFC 9162), or H("") when empty. */
function oracleRoot(bytes: Uint8Array): string {
  if (bytes.length === 0) return toHex(sha3_256(new Uint8Array(0)))
  const leaf = new Uint8Array(bytes.length + 1)
  leaf.set(bytes, 1)
  return toHex(sha3_256(leaf))
}

function shards(name: string, lengths: number[]): WholeShardRequest[] {
  const oid = objectId('rpc-stage', name)
  return lengths.map((length, index) => ({
    header: {
      object_id: oid,
      version: 1,
      shard_index: index,
      shard_id: shardId(oid, 1, index),
      length,
      block_size_bytes: DEFAULT_PARAMS.blockSizeBytes,
    },
    bytes: bytesOf(`${name}-${index}`, length),
  }))
}

describe("Libp2pTransport.stageShards: a node's shards of a small object in as few requests as fit", () => {
  let net: Libp2pNetwork
  let from: string
  let to: string
  let transport: Libp2pTransport
  const staged = async () => (await net.locals.get(to)!.store.stats()).staged

  beforeAll(async () => {
    net = await libp2pHarness(2)
    ;[from, to] = net.nodeIds as [string, string]
    const resolve = (id: string) =>
      (net.membership.current().nodes.get(id)?.multiaddrs ?? []).map((a) => multiaddr(a))
    transport = new Libp2pTransport(
      { libp2p: net.libp2p.get(from)!, resolve },
      { limits: { idleTimeoutMs: 5_000, requestTimeoutMs: 5_000 } },
    )
  })
  afterAll(async () => {
    transport.close()
    await net.close()
  })
  afterEach(() => {
    vi.restoreAllMocks()
  })

  it('stages every shard in one request and one database write, each rooted as the oracle says', async () => {
    const service = net.locals.get(to)!.service
    const calls = vi.spyOn(service, 'stageShards')
    const input = shards('one-request', [1000, 0, 1, 4096])
    const before = await staged()
    const answer = await transport.stageShards(to, input)
    expect(calls).toHaveBeenCalledTimes(1)
    expect(calls.mock.calls[0]![0]).toHaveLength(4)
    expect(answer.map((s) => [s.node_id, s.shard_id, s.length, s.merkle_root])).toEqual(
      input.map((s) => [to, s.header.shard_id, s.bytes.length, oracleRoot(s.bytes)]),
    )
    expect(await staged()).toBe(before + 4)
    await transport.abortStaging(
      to,
      answer.map((s) => s.staging_id),
    )
    expect(await staged()).toBe(before)
  })

  it('splits shards over the inline bound into several requests, and streams a shard larger than it', async () => {
    const service = net.locals.get(to)!.service
    const inline = vi.spyOn(service, 'stageShards')
    const streamed = vi.spyOn(service, 'openShard')
    const big = MAX_INLINE_SHARD_BYTES / 2 + 1
    const input = shards('split', [big, big, MAX_INLINE_SHARD_BYTES + 5, 10])
    const answer = await transport.stageShards(to, input)
    expect(answer.map((s) => s.shard_id)).toEqual(input.map((s) => s.header.shard_id))
    expect(answer.map((s) => s.length)).toEqual(input.map((s) => s.bytes.length))
    // [big], [big], then the large shard streamed alone, then [10].
    expect(inline.mock.calls.map((c) => c[0].length)).toEqual([1, 1, 1])
    expect(streamed).toHaveBeenCalledTimes(1)
    await transport.abortStaging(
      to,
      answer.map((s) => s.staging_id),
    )
  })

  it('is all or none: when one request fails, what the others staged is taken back', async () => {
    const service = net.locals.get(to)!.service
    const real = service.stageShards.bind(service)
    let call = 0
    vi.spyOn(service, 'stageShards').mockImplementation(async (list) => {
      call++
      if (call === 2) throw new Error('disk full')
      return real(list)
    })
    const before = await staged()
    const big = MAX_INLINE_SHARD_BYTES / 2 + 1
    const failure = await transport.stageShards(to, shards('all-or-none', [big, big, big])).catch((e) => e)
    // The remote's internal failure reaches the caller without its message, as a node that failed.
    expect(failure).toBeInstanceOf(Error)
    expect(failure).not.toBeInstanceOf(NodeUnavailableError)
    expect((failure as { code?: string }).code).toBe('INTERNAL')
    await vi.waitFor(async () => expect(await staged()).toBe(before))
  })

  it('refuses a shard whose bytes do not match its header, staging none of the request', async () => {
    const before = await staged()
    const input = shards('mismatch', [100, 200])
    input[1] = { ...input[1]!, header: { ...input[1]!.header, shard_id: input[0]!.header.shard_id } }
    await expect(transport.stageShards(to, input)).rejects.toMatchObject({ code: 'INVALID_INPUT' })
    expect(await staged()).toBe(before)
  })
})
