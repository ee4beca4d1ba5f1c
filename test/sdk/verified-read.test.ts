import { describe, expect, it } from 'vitest'
import type { VersionRecord } from '../../src/core/record.js'
import type { ShardReadInfo } from '../../src/engine/responses.js'
import type { OpenedRead as WireRead } from '../../src/net/client.js'
import type { Call } from '../../src/sdk/client-calls.js'
import { openedRead, VerifiedRecords } from '../../src/sdk/client-read.js'
import { verifiedContent } from '../../src/sdk/verified-read.js'
import { fixture, honestRead } from './stub.js'

const f = fixture('verified-read', 3 * 262_144)

/** A wire read serving `pieces` of the fixture's content, then its honest trailer. */
function wireRead(
  pieces: Uint8Array[],
  onPiece: (i: number) => void = () => {},
  record: VersionRecord = f.record,
): WireRead {
  const proofs = (honestRead(f).trailer as { proofs: ShardReadInfo[] }).proofs
  async function* content() {
    for (const [i, piece] of pieces.entries()) {
      onPiece(i)
      yield piece
    }
  }
  return {
    record,
    content: content(),
    trailer: Promise.resolve({ ok: true, proofs }),
    closed: new Promise(() => {}),
    cancel: () => {},
  } as unknown as WireRead
}

describe('verifiedContent', () => {
  it('returns true once every byte and the trailer checked out, and copies the trailer', async () => {
    const proofs: ShardReadInfo[] = []
    const content = verifiedContent(
      wireRead([f.content.subarray(0, 1000), f.content.subarray(1000)]),
      proofs,
      undefined,
    )
    let step = await content.next()
    while (!step.done) step = await content.next()
    expect(step.value).toBe(true)
    expect(proofs.map((p) => p.shard_id)).toEqual(f.record.shards.map((s) => s.shard_id))
  })

  it('returns false, not true, once cancelled, even when the wire still hands it a piece', async () => {
    let cancelled = false
    const proofs: ShardReadInfo[] = []
    // The second piece arrives after the cancel: a wire that ignored it must not make the read count
    // as verified (its record would back later proof checks).
    const wire = wireRead(
      [f.content.subarray(0, 1000), f.content.subarray(1000)],
      (i) => (cancelled = i === 1),
    )
    const content = verifiedContent(wire, proofs, undefined, () => cancelled)
    let step = await content.next()
    while (!step.done) step = await content.next()
    expect(step.value).toBe(false)
    expect(proofs).toEqual([])
  })
})

describe('VerifiedRecords', () => {
  const record = (version: number): VersionRecord => ({ ...f.record, version })

  it('keeps the 256 most recent records, dropping the oldest first', () => {
    const records = new VerifiedRecords()
    for (let v = 1; v <= 257; v++) records.remember(record(v))
    expect(records.get(f.oid, 1)).toBeUndefined()
    expect(records.get(f.oid, 2)).toMatchObject({ version: 2 })
    expect(records.get(f.oid, 257)).toMatchObject({ version: 257 })
    expect(records.get(fixture('verified-read-other', 1).oid, 2)).toBeUndefined()
  })
})

describe('openedRead after the client closed', () => {
  const call = { signal: new AbortController().signal, nodeDone: () => {}, end: () => {} } as Call
  const drain = async (content: AsyncIterable<Uint8Array>) => {
    for await (const _ of content);
  }

  it('still answers bytes that do not verify with INTEGRITY_MISMATCH, and remembers nothing', async () => {
    const forged = structuredClone(f.record)
    forged.shards[0]!.merkle_root = 'ab'.repeat(32)
    const remembered: VersionRecord[] = []
    const read = openedRead(wireRead([f.content], undefined, forged), call, {
      onVerified: (r) => remembered.push(r),
      closed: () => true,
    })
    await expect(drain(read.content)).rejects.toMatchObject({ code: 'INTEGRITY_MISMATCH' })
    expect(remembered).toEqual([])
  })

  it('answers a failure of the stream itself with CLIENT_CLOSED', async () => {
    const wire: WireRead = {
      ...wireRead([]),
      content: (async function* () {
        yield* []
        throw new Error('stream reset by the closing')
      })(),
    }
    const read = openedRead(wire, call, { onVerified: () => {}, closed: () => true })
    await expect(drain(read.content)).rejects.toMatchObject({ code: 'CLIENT_CLOSED' })
  })
})
