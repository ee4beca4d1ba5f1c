import { describe, expect, it } from 'vitest'
import { toHex } from '../../src/core/bytes.js'
import { leafHash, MerkleTree } from '../../src/core/merkle.js'
import type { ShardDescriptor, VersionRecord } from '../../src/core/record.js'
import { DEFAULT_TIMEOUTS, type EngineContext } from '../../src/engine/context.js'
import { holdsOtherRecordCopy } from '../../src/engine/other-record.js'
import type { NodeTransport } from '../../src/engine/transport.js'

/**
 * holdsOtherRecordCopy excuses a copy that did not verify only when the node's own record names
 * another root for the shard and its manifest rebuilds exactly that root; every other answer, or
 * none, leaves the copy counted as bad data (read.ts then answers INTEGRITY_MISMATCH).
 */

const SHARD = 'ab'.repeat(32)
const leaves = (label: string, n: number) =>
  Array.from({ length: n }, (_, i) => leafHash(new TextEncoder().encode(`${label}-${i}`)))
const rootOf = (ls: Uint8Array[]) => toHex(MerkleTree.fromLeafHashes(ls).root)
const decidedLeaves = leaves('decided', 3)
const otherLeaves = leaves('other', 2)

function recordWithRoot(root: string): VersionRecord {
  return {
    object_id: 'cd'.repeat(32),
    version: 1,
    shards: [{ shard_id: SHARD, merkle_root: root } as ShardDescriptor],
  } as VersionRecord
}
const decided = recordWithRoot(rootOf(decidedLeaves))

function ctxWith(answers: {
  record?: () => Promise<VersionRecord | undefined>
  manifest?: Uint8Array[] | 'throws'
}): EngineContext {
  const transport = {
    getRecord: answers.record ?? (async () => undefined),
    getManifest: async () => {
      if (answers.manifest === 'throws') throw new Error('reset')
      return answers.manifest === undefined ? undefined : { leaf_hashes: answers.manifest.map(toHex) }
    },
  } as unknown as NodeTransport
  return { nodeId: 'node-1', transport, timeouts: DEFAULT_TIMEOUTS } as unknown as EngineContext
}

const ask = (ctx: EngineContext) => holdsOtherRecordCopy(ctx, 'node-2', decided, decided.shards[0]!)

describe('holdsOtherRecordCopy', () => {
  it('is true for a home holding a racing record whose root its manifest rebuilds', async () => {
    const ctx = ctxWith({ record: async () => recordWithRoot(rootOf(otherLeaves)), manifest: otherLeaves })
    expect(await ask(ctx)).toBe(true)
  })

  it('is false when the node’s record and manifest are the decided ones (its blocks are damaged)', async () => {
    const ctx = ctxWith({ record: async () => decided, manifest: decidedLeaves })
    expect(await ask(ctx)).toBe(false)
  })

  it('is false when the manifest does not rebuild the root its own record names', async () => {
    const damaged = [...otherLeaves.slice(0, 1), leafHash(new Uint8Array([1]))]
    const ctx = ctxWith({ record: async () => recordWithRoot(rootOf(otherLeaves)), manifest: damaged })
    expect(await ask(ctx)).toBe(false)
  })

  it('is false with no record, no manifest, or a failed request', async () => {
    const other = async () => recordWithRoot(rootOf(otherLeaves))
    expect(await ask(ctxWith({ manifest: otherLeaves }))).toBe(false)
    expect(await ask(ctxWith({ record: other }))).toBe(false)
    expect(await ask(ctxWith({ record: other, manifest: 'throws' }))).toBe(false)
    expect(
      await ask(
        ctxWith({
          record: async () => {
            throw new Error('silent')
          },
          manifest: otherLeaves,
        }),
      ),
    ).toBe(false)
  })

  it('is true for the empty copy of a racing delete marker, false for an empty copy its record does not name', async () => {
    // RFC 9162: the root of the empty tree is the hash of the empty string.
    const empty = rootOf([])
    expect(empty).toBe('a7ffc6f8bf1ed76651c14756a061d662f580ff4de43b49fa82d80a4b80f8434a')
    expect(await ask(ctxWith({ record: async () => recordWithRoot(empty), manifest: [] }))).toBe(true)
    expect(
      await ask(ctxWith({ record: async () => recordWithRoot(rootOf(otherLeaves)), manifest: [] })),
    ).toBe(false)
  })

  it('is false when the node’s record has no such shard', async () => {
    const ctx = ctxWith({
      record: async () => ({ ...decided, shards: [] }) as VersionRecord,
      manifest: otherLeaves,
    })
    expect(await ask(ctx)).toBe(false)
  })
})
