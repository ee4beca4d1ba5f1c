import { beforeAll, describe, expect, it } from 'vitest'
import type { SignedCheckpoint } from '../../src/log/checkpoint.js'
import type { StorageEvent } from '../../src/log/event.js'
import { EventLog } from '../../src/log/event-log.js'
import { type LogVerification, verifyLog } from '../../src/log/verify.js'
import { collect, hexOf, memoryDb, NODE, reSigned, storeFields, TEST_KEY } from './fixtures.js'

/**
 * Checkpoints signed with the node's own key that still break a rule of the log: a node (or whoever
 * holds its key) re-signing its history. The signature verifies, so only the rule itself can catch
 * them; verify.test.ts re-ids checkpoints without re-signing, which the signature check catches first.
 */

// 20 entries in checkpoints [0..3] [4..7] [8..11] [12..15] [16..19].
const N = 20
let events: StorageEvent[]
let checkpoints: SignedCheckpoint[]
let exported: StorageEvent[]

beforeAll(async () => {
  const log = new EventLog(
    { db: memoryDb(), nodeId: NODE, key: TEST_KEY },
    { checkpointEvery: 4, checkpointDelayMs: 3_600_000 },
  )
  await log.open()
  for (let i = 0; i < N; i++) await log.append(storeFields(i))
  await log.flush()
  events = await collect(log.iterate())
  checkpoints = await collect(log.checkpoints())
  exported = await collect(log.exportEvents())
  await log.close()
})

const codeOf = (v: LogVerification) => [v.code, v.first_bad_seq]
const verifyArrays = (evs: unknown[], cps: unknown[]) =>
  verifyLog({ events: evs, checkpoints: cps, publicKey: TEST_KEY.publicKey })

describe('verifyLog on checkpoints re-signed with the node key', () => {
  it('the honest log verifies, and so does a checkpoint re-signed unchanged', async () => {
    expect((await verifyArrays(events, checkpoints)).ok).toBe(true)
    const same = checkpoints.map((c, i) => (i === 2 ? reSigned(c, {}) : c))
    expect((await verifyArrays(events, same)).ok).toBe(true)
  })

  it('a checkpoint breaking one rule is BAD_CHECKPOINT at its first_seq', async () => {
    const cases: Array<[string, Partial<SignedCheckpoint>]> = [
      // Each of these passed verifyLog when its one check was removed.
      ['checkpoint_seq out of order', { checkpoint_seq: 3 }],
      ['first_seq not where the last checkpoint ended', { first_seq: 9 }],
      ['prev_checkpoint_id of an older checkpoint', { prev_checkpoint_id: checkpoints[0]!.checkpoint_id }],
      ['prev_checkpoint_id of nothing', { prev_checkpoint_id: hexOf(3) }],
      ['head_event_id of another entry of the batch', { head_event_id: events[10]!.event_id }],
      // The head is right, so only the root over the batch's leaves tells.
      ['batch_root of another tree', { batch_root: checkpoints[1]!.batch_root }],
      ['last_seq before first_seq', { last_seq: 7 }],
    ]
    for (const [name, change] of cases) {
      const cps = checkpoints.map((c, i) => (i === 2 ? reSigned(c, change) : c))
      const v = await verifyArrays(events, cps)
      expect(codeOf(v), `${name}: ${v.reason}`).toEqual(['BAD_CHECKPOINT', 8])
      expect(v).toMatchObject({
        ok: false,
        checkpoints: 2,
        last_checkpoint_id: checkpoints[1]!.checkpoint_id,
      })
    }
  })

  it("a checkpoint of another node over the node's entries is WRONG_NODE at its first_seq", async () => {
    const cps = checkpoints.map((c, i) => (i === 2 ? reSigned(c, { node_id: 'node-z' }) : c))
    expect(codeOf(await verifyArrays(events, cps))).toEqual(['WRONG_NODE', 8])
    // The node given, the first checkpoint is held to it as well.
    const first = checkpoints.map((c, i) => (i === 0 ? reSigned(c, { node_id: 'node-z' }) : c))
    const v = await verifyLog({ events, checkpoints: first, publicKey: TEST_KEY.publicKey, nodeId: NODE })
    expect(codeOf(v)).toEqual(['WRONG_NODE', 0])
  })
})

describe('verifyLog on a checkpoint that does not parse', () => {
  it('is BAD_CHECKPOINT, not a bad signature, though its id and signature may still verify', async () => {
    const c = checkpoints[2]!
    const cases: Array<[string, unknown]> = [
      ['a signature one byte long', { ...c, signature: `${c.signature}00` }],
      ['a signature one byte short', { ...c, signature: c.signature.slice(2) }],
      ['a signature of the right length, not hex', { ...c, signature: 'zz'.repeat(3309) }],
      // The id is over the known keys only, so the signature still verifies: only the parse refuses it.
      ['an unknown key', { ...c, note: 'added after signing' }],
    ]
    for (const [name, changed] of cases) {
      const cps = checkpoints.map((x, i) => (i === 2 ? changed : x))
      const v = await verifyArrays(events, cps)
      expect(codeOf(v), `${name}: ${v.reason}`).toEqual(['BAD_CHECKPOINT', 8])
    }
  })
})

describe('verifyLog on an export whose pqc_signature points elsewhere', () => {
  it('the export verifies as given', async () => {
    expect((await verifyArrays(exported, checkpoints)).ok).toBe(true)
  })

  it('a pointer naming another checkpoint or another leaf index is BAD_ENTRY at that entry', async () => {
    const at = 13
    const ref = exported[at]!.pqc_signature!
    const cases: Array<[string, Partial<typeof ref>]> = [
      // The audit path still leads from the right leaf to the right root: only the named fields are wrong.
      ['checkpoint_id of another checkpoint', { checkpoint_id: checkpoints[2]!.checkpoint_id }],
      ['leaf_index of another leaf', { leaf_index: 0 }],
    ]
    for (const [name, change] of cases) {
      const evs = exported.map((e, i) => (i === at ? { ...e, pqc_signature: { ...ref, ...change } } : e))
      const v = await verifyArrays(evs, checkpoints)
      expect(codeOf(v), `${name}: ${v.reason}`).toEqual(['BAD_ENTRY', at])
    }
  })
})
