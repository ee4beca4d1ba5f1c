import { sha3_256 } from '@noble/hashes/sha3.js'
import { bytesToHex } from '@noble/hashes/utils.js'
import { beforeAll, describe, expect, it } from 'vitest'
import { type SignedCheckpoint, signCheckpoint } from '../../src/log/checkpoint.js'
import { computeEventId, type StorageEvent } from '../../src/log/event.js'
import { EventLog } from '../../src/log/event-log.js'
import { CHECKPOINT_SUBLEVEL, LOG_SUBLEVEL, seqKey } from '../../src/log/log-store.js'
import { type LogVerification, MisplacedValue, verifyLog } from '../../src/log/verify.js'
import {
  collect,
  hexOf,
  memoryDb,
  NODE,
  OTHER_KEY,
  oracleHashHex,
  storeFields,
  TEST_KEY,
} from './fixtures.js'

// 20 entries in checkpoints [0..3] [4..7] [8..11] [12..15] [16..19].
const N = 20
const EVERY = 4

let db: ReturnType<typeof memoryDb>
let log: EventLog
let events: StorageEvent[]
let checkpoints: SignedCheckpoint[]

beforeAll(async () => {
  db = memoryDb()
  log = new EventLog(
    { db, nodeId: NODE, key: TEST_KEY },
    { checkpointEvery: EVERY, checkpointDelayMs: 3_600_000 },
  )
  await log.open()
  for (let i = 0; i < N; i++) await log.append(storeFields(i))
  await log.flush()
  events = await collect(log.iterate())
  checkpoints = await collect(log.checkpoints())
})

function verifyArrays(evs: unknown[], cps: unknown[], publicKey = TEST_KEY.publicKey) {
  return verifyLog({ events: evs, checkpoints: cps, publicKey })
}

// A different value of the same type for every key of a stored event.
const TAMPER: Record<string, (e: StorageEvent) => unknown> = {
  schema: () => 'qfs-storage-event/2',
  node_id: () => 'node-z',
  seq: (e) => e.seq + 100,
  prev_event_id: () => hexOf(99),
  event_id: () => hexOf(98),
  event_type: () => 'READ',
  epoch: (e) => (e.epoch ?? 0) + 1,
  timestamp_tick: (e) => (e.timestamp_tick ?? 0) + 1,
  object_id: () => hexOf(97),
  version: (e) => (e.version ?? 0) + 1,
  hash_commit: () => hexOf(96),
  content_size: (e) => (e.content_size ?? 0) + 1,
  shard_ids: (e) => e.shard_ids.slice(1),
  replica_sets: () => ({}),
  atr_cost: () => '1.000000000000000000',
  pqc_signature: () => ({ scheme: 'ML-DSA-65', checkpoint_id: hexOf(95), leaf_index: 0, audit_path: [] }),
  error_code: () => 'SE_ERR_INTERNAL',
  error_detail: () => 'tampered',
  details: () => ({ metadata: null }),
}

describe('verifyLog', () => {
  it('accepts the honest log, from arrays and from the live db', async () => {
    expect(await verifyArrays(events, checkpoints)).toEqual({
      ok: true,
      code: null,
      entries: N,
      checkpoints: 5,
      first_bad_seq: null,
      reason: null,
      public_key_hash: bytesToHex(sha3_256(TEST_KEY.publicKey)),
      last_checkpoint_id: checkpoints[4]!.checkpoint_id,
      head_seq: N - 1,
      head_event_id: events[N - 1]!.event_id,
    })
    expect(await log.verify()).toMatchObject({ ok: true, entries: N, checkpoints: 5 })
  })

  it('checkpoints match an independent recomputation (ids, roots)', async () => {
    const { oracleLeafHash, oracleRoot } = await import('../helpers/rfc9162.js')
    for (const cp of checkpoints) {
      const { checkpoint_id, signature, ...body } = cp
      expect(checkpoint_id).toBe(oracleHashHex(body))
      const leaves = events
        .slice(cp.first_seq, cp.last_seq + 1)
        .map((e) => oracleLeafHash(new Uint8Array(Buffer.from(e.event_id, 'hex'))))
      expect(cp.batch_root).toBe(Buffer.from(oracleRoot(leaves)).toString('hex'))
      expect(signature).toHaveLength(2 * 3309)
    }
  })

  for (const key of Object.keys(TAMPER)) {
    it(`tampering ${key} of one entry fails at exactly that seq`, async () => {
      for (const seq of [0, 9, 11, N - 1]) {
        const evs = events.map((e) => ({ ...e }))
        ;(evs[seq] as Record<string, unknown>)[key] = TAMPER[key]!(events[seq]!)
        const v = await verifyArrays(evs, checkpoints)
        expect(v.ok, `${key}@${seq}`).toBe(false)
        expect(v.first_bad_seq, `${key}@${seq}: ${v.reason}`).toBe(seq)
      }
    })
  }

  it('deleting an entry fails at its seq (middle, batch start, last)', async () => {
    for (const seq of [5, 8, N - 1]) {
      const v = await verifyArrays(
        events.filter((e) => e.seq !== seq),
        checkpoints,
      )
      expect(v.first_bad_seq, v.reason ?? '').toBe(seq)
    }
  })

  it('reordering two entries fails at the first of them', async () => {
    const evs = events.slice()
    ;[evs[6], evs[7]] = [evs[7]!, evs[6]!]
    expect((await verifyArrays(evs, checkpoints)).first_bad_seq).toBe(6)
  })

  it('an entry whose id was recomputed after tampering still fails (the next link or the batch root)', async () => {
    const evs = events.map((e) => ({ ...e }))
    evs[9]!.content_size = 1
    evs[9]!.event_id = computeEventId(evs[9]!)
    const v = await verifyArrays(evs, checkpoints)
    expect(v.ok).toBe(false)
    expect(v.first_bad_seq).toBe(10)
    const last = events.map((e) => ({ ...e }))
    last[11]!.content_size = 1
    last[11]!.event_id = computeEventId(last[11]!)
    expect((await verifyArrays(last, checkpoints)).first_bad_seq).toBe(8)
  })

  it('a broken checkpoint fails at its first_seq', async () => {
    const broken: [string, (c: SignedCheckpoint) => SignedCheckpoint][] = [
      ['batch root', (c) => ({ ...c, batch_root: hexOf(1) })],
      ['batch root with a recomputed id', (c) => reId({ ...c, batch_root: hexOf(1) })],
      ['head', (c) => reId({ ...c, head_event_id: hexOf(2) })],
      ['signature', (c) => ({ ...c, signature: flipHex(c.signature, 100) })],
      ['prev link', (c) => reId({ ...c, prev_checkpoint_id: hexOf(3) })],
      ['range', (c) => reId({ ...c, last_seq: c.last_seq + 1 })],
      ['checkpoint seq', (c) => reId({ ...c, checkpoint_seq: 7 })],
      ['key hash', (c) => reId({ ...c, public_key_hash: hexOf(4) })],
      ['malformed', (c) => ({ ...c, signature: 'zz' })],
    ]
    for (const [name, mutate] of broken) {
      const cps = checkpoints.slice()
      cps[2] = mutate(cps[2]!)
      const v = await verifyArrays(events, cps)
      expect(v.first_bad_seq, `${name}: ${v.reason}`).toBe(8)
    }
  })

  it('a missing, extra or foreign-key checkpoint is named', async () => {
    expect(
      (await verifyArrays(events, [...checkpoints.slice(0, 2), ...checkpoints.slice(3)])).first_bad_seq,
    ).toBe(8)
    expect((await verifyArrays(events, checkpoints.slice(0, 4))).first_bad_seq).toBe(16)
    expect((await verifyArrays(events.slice(0, 16), checkpoints)).first_bad_seq).toBe(16)
    expect((await verifyArrays(events, checkpoints, OTHER_KEY.publicKey)).first_bad_seq).toBe(0)
    expect((await verifyArrays(events, checkpoints, new Uint8Array(3))).first_bad_seq).toBe(0)
    expect(await verifyArrays([], [])).toMatchObject({ ok: true, entries: 0 })
    expect((await verifyArrays([], checkpoints)).first_bad_seq).toBe(0)
  })

  it('garbage input is a reason, never an exception', async () => {
    for (const junk of [null, 1, 'x', [], { seq: 0 }]) {
      const v = await verifyArrays([junk], checkpoints)
      expect(v).toMatchObject({ ok: false, first_bad_seq: 0 })
      const w = await verifyArrays(events, [junk])
      expect(w).toMatchObject({ ok: false, first_bad_seq: 0 })
    }
  })

  it('an export (entries with pqc_signature) verifies, and a bad pointer is named', async () => {
    const exported = await collect(log.exportEvents())
    expect(exported.every((e) => e.pqc_signature !== null)).toBe(true)
    expect(exported.map((e) => e.event_id)).toEqual(events.map((e) => e.event_id))
    expect((await verifyArrays(exported, checkpoints)).ok).toBe(true)
    const bad = exported.map((e) => ({ ...e }))
    bad[13] = { ...bad[13]!, pqc_signature: { ...bad[13]!.pqc_signature!, audit_path: [hexOf(1), hexOf(2)] } }
    expect((await verifyArrays(bad, checkpoints)).first_bad_seq).toBe(13)
  })
})

describe('verifyLog verdict codes and signed head', () => {
  const codeOf = (v: LogVerification) => [v.code, v.first_bad_seq]
  const tamperedEntry = (seq: number, edit: (e: StorageEvent) => void) =>
    events.map((e) => {
      if (e.seq !== seq) return e
      const copy = structuredClone(e)
      edit(copy)
      return copy
    })

  it('an uncovered tail that hashes and links is UNCOVERED_TAIL, with every entry counted', async () => {
    // Entries 16..19 exist, their checkpoint does not (a crash before the timer).
    const v = await verifyArrays(events, checkpoints.slice(0, 4))
    expect(v).toMatchObject({
      ok: false,
      code: 'UNCOVERED_TAIL',
      first_bad_seq: 16,
      entries: N,
      checkpoints: 4,
    })
    expect(v).toMatchObject({ last_checkpoint_id: checkpoints[3]!.checkpoint_id, head_seq: 15 })
    // A log with no checkpoint at all: the whole log is the tail.
    expect(codeOf(await verifyArrays(events.slice(0, 3), []))).toEqual(['UNCOVERED_TAIL', 0])
    expect(await verifyArrays(events.slice(0, 3), [])).toMatchObject({
      last_checkpoint_id: null,
      head_seq: null,
    })
  })

  it('a tampered tail is named for what is wrong, not as a mere uncovered tail', async () => {
    const cps = checkpoints.slice(0, 4)
    const changed = tamperedEntry(17, (e) => {
      e.content_size = (e.content_size ?? 0) + 1
    })
    expect(codeOf(await verifyArrays(changed, cps))).toEqual(['BAD_ENTRY', 17])
    // Re-hashed after the change: its own id is right, so the next entry's link breaks.
    const rehashed = tamperedEntry(17, (e) => {
      e.content_size = (e.content_size ?? 0) + 1
      e.event_id = computeEventId(e)
    })
    expect(codeOf(await verifyArrays(rehashed, cps))).toEqual(['BAD_LINK', 18])
    expect(codeOf(await verifyArrays([...events.slice(0, 17), ...events.slice(18)], cps))).toEqual([
      'BAD_SEQ',
      17,
    ])
    const claimed = tamperedEntry(18, (e) => {
      e.pqc_signature = { scheme: 'ML-DSA-65', checkpoint_id: hexOf(95), leaf_index: 2, audit_path: [] }
    })
    expect(codeOf(await verifyArrays(claimed, cps))).toEqual(['BAD_ENTRY', 18])
  })

  it('names each kind of damage by its code', async () => {
    const linked = tamperedEntry(9, (e) => {
      e.content_size = 1
      e.event_id = computeEventId(e)
    })
    const foreign = tamperedEntry(5, (e) => {
      e.node_id = 'node-z'
      e.event_id = computeEventId(e)
    })
    const flipped = checkpoints.map((c, i) => (i === 2 ? { ...c, signature: flipHex(c.signature, 100) } : c))
    // Signed with the right key over other entries: only the batch root gives it away.
    const resigned = signCheckpoint(
      { node_id: NODE, checkpoint_seq: 2, first_seq: 8, prev_checkpoint_id: checkpoints[1]!.checkpoint_id },
      [1, 2, 3, 4].map((i) => new Uint8Array(Buffer.from(hexOf(i), 'hex'))),
      TEST_KEY,
    )
    const rooted = checkpoints.map((c, i) => (i === 2 ? resigned : c))
    const unhashed = checkpoints.map((c, i) => (i === 2 ? { ...c, batch_root: hexOf(1) } : c))
    const cases: Array<[string, Promise<LogVerification>, [string, number]]> = [
      [
        'changed field',
        verifyArrays(
          tamperedEntry(3, (e) => void (e.epoch = 99)),
          checkpoints,
        ),
        ['BAD_ENTRY', 3],
      ],
      ['not an entry', verifyArrays([...events.slice(0, 6), 'junk'], checkpoints), ['BAD_ENTRY', 6]],
      ['re-hashed entry', verifyArrays(linked, checkpoints), ['BAD_LINK', 10]],
      ['entry of another node', verifyArrays(foreign, checkpoints), ['WRONG_NODE', 5]],
      ['another key', verifyArrays(events, checkpoints, OTHER_KEY.publicKey), ['WRONG_KEY', 0]],
      ['flipped signature', verifyArrays(events, flipped), ['BAD_SIGNATURE', 8]],
      ['batch root', verifyArrays(events, rooted), ['BAD_CHECKPOINT', 8]],
      ['checkpoint id', verifyArrays(events, unhashed), ['BAD_CHECKPOINT', 8]],
      [
        'entries cut below a checkpoint',
        verifyArrays(events.slice(0, 18), checkpoints),
        ['CHECKPOINT_PAST_END', 18],
      ],
      ['an extra checkpoint', verifyArrays(events.slice(0, 16), checkpoints), ['CHECKPOINT_PAST_END', 16]],
      [
        'misplaced entry',
        verifyArrays([...events.slice(0, 4), new MisplacedValue('x', 'stray')], checkpoints),
        ['STRAY_KEY', 4],
      ],
      [
        'misplaced checkpoint',
        verifyArrays(events, [...checkpoints.slice(0, 1), new MisplacedValue('x', 'stray')]),
        ['STRAY_KEY', 4],
      ],
      [
        'misplaced checkpoint at the end',
        verifyArrays(events, [...checkpoints, new MisplacedValue('x', 'stray')]),
        ['STRAY_KEY', N],
      ],
    ]
    for (const [name, verdict, expected] of cases) {
      const v = await verdict
      expect(codeOf(v), `${name}: ${v.reason}`).toEqual(expected)
      expect(v.ok).toBe(false)
    }
  })

  it('states the key it checked against, hashed as an auditor would (noble SHA3-256)', async () => {
    const v = await verifyArrays(events, checkpoints, OTHER_KEY.publicKey)
    expect(v.public_key_hash).toBe(bytesToHex(sha3_256(OTHER_KEY.publicKey)))
    expect(v.public_key_hash).not.toBe(checkpoints[0]!.public_key_hash)
  })

  it('a cut-back log verifies with its older head; a head seen before exposes the cut', async () => {
    const cut = await verifyArrays(events.slice(0, 12), checkpoints.slice(0, 3))
    expect(cut).toMatchObject({ ok: true, code: null, entries: 12, checkpoints: 3 })
    expect(cut).toMatchObject({
      last_checkpoint_id: checkpoints[2]!.checkpoint_id,
      head_seq: 11,
      head_event_id: events[11]!.event_id,
    })
    const seen = checkpoints[4]!.checkpoint_id
    const withHead = (evs: unknown[], cps: unknown[], expectedHead: string) =>
      verifyLog({ events: evs, checkpoints: cps, publicKey: TEST_KEY.publicKey, expectedHead })
    expect(await withHead(events.slice(0, 12), checkpoints.slice(0, 3), seen)).toMatchObject({
      ok: false,
      code: 'HEAD_NOT_FOUND',
      first_bad_seq: null,
    })
    // The full log holds the head, and so does it with a tail beyond it.
    expect(await withHead(events, checkpoints, seen)).toMatchObject({ ok: true })
    expect((await withHead(events, checkpoints, checkpoints[1]!.checkpoint_id)).ok).toBe(true)
    // A cut log with an uncovered tail: the missing head is the graver answer.
    expect((await withHead(events, checkpoints.slice(0, 3), seen)).code).toBe('HEAD_NOT_FOUND')
  })
})

describe('EventLog.verify on a tampered database', () => {
  // Each case edits the stored bytes, verifies, then restores them.
  async function withStored(seq: number, edit: (text: string) => string | null, expected: number) {
    const raw = db.sublevel<string, string>(LOG_SUBLEVEL, {})
    const original = (await raw.get(seqKey(seq)))!
    const edited = edit(original)
    if (edited === null) await raw.del(seqKey(seq))
    else await raw.put(seqKey(seq), edited)
    try {
      const v = await log.verify()
      expect(v.ok).toBe(false)
      expect(v.first_bad_seq, v.reason ?? '').toBe(expected)
    } finally {
      await raw.put(seqKey(seq), original)
    }
  }

  it('names a changed field, a non-JSON value and a deleted entry', async () => {
    await withStored(3, (t) => t.replace('"content_size":4099', '"content_size":4100'), 3)
    await withStored(12, () => 'not json', 12)
    await withStored(17, () => null, 17)
    await withStored(N - 1, () => null, N - 1)
    expect((await log.verify()).ok).toBe(true)
  })

  it('names a checkpoint whose stored signature was altered', async () => {
    const raw = db.sublevel<string, string>(CHECKPOINT_SUBLEVEL, {})
    const key = seqKey(15)
    const original = (await raw.get(key))!
    const cp = JSON.parse(original) as SignedCheckpoint
    await raw.put(key, JSON.stringify({ ...cp, signature: flipHex(cp.signature, 0) }))
    try {
      expect((await log.verify()).first_bad_seq).toBe(12)
    } finally {
      await raw.put(key, original)
    }
  })
})

function reId(c: SignedCheckpoint): SignedCheckpoint {
  const { checkpoint_id: _id, signature: _sig, ...body } = c
  return { ...c, checkpoint_id: oracleHashHex(body) }
}

function flipHex(hex: string, at: number): string {
  const c = hex[at] === '0' ? '1' : '0'
  return hex.slice(0, at) + c + hex.slice(at + 1)
}
