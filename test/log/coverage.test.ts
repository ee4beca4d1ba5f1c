import { ml_dsa65 } from '@noble/post-quantum/ml-dsa.js'
import { beforeAll, describe, expect, it } from 'vitest'
import {
  batchTree,
  type Coverage,
  coverageOf,
  signCheckpoint,
  verifyCoverage,
} from '../../src/log/checkpoint.js'
import type { StorageEvent } from '../../src/log/event.js'
import { EventLog } from '../../src/log/event-log.js'
import { oraclePath } from '../helpers/rfc9162.js'
import { collect, hexOf, memoryDb, NODE, OTHER_KEY, reSigned, storeFields, TEST_KEY } from './fixtures.js'

// 11 entries, checkpointEvery 4: batches of 4, 4 and 3 leaves (a full tree and an unbalanced one).
const N = 11
let log: EventLog
let events: StorageEvent[]
let coverages: Coverage[]

beforeAll(async () => {
  log = new EventLog(
    { db: memoryDb(), nodeId: NODE, key: TEST_KEY },
    { checkpointEvery: 4, checkpointDelayMs: 3_600_000 },
  )
  await log.open()
  for (let i = 0; i < N; i++) await log.append(storeFields(i))
  expect(await log.coverage(N - 1)).toBeUndefined()
  await log.flush()
  events = await collect(log.iterate())
  coverages = []
  for (let seq = 0; seq < N; seq++) coverages.push((await log.coverage(seq))!)
})

describe('coverage', () => {
  it('every entry verifies with the public key alone', () => {
    events.forEach((e, seq) => {
      expect(verifyCoverage(e, coverages[seq], TEST_KEY.publicKey)).toEqual({ ok: true, reason: null })
    })
  })

  it('matches an independent RFC 9162 path and an ML-DSA-65 check made directly with noble', async () => {
    const { oracleLeafHash } = await import('../helpers/rfc9162.js')
    for (const [seq, cov] of coverages.entries()) {
      const cp = cov.checkpoint
      const leaves = events
        .slice(cp.first_seq, cp.last_seq + 1)
        .map((e) => oracleLeafHash(new Uint8Array(Buffer.from(e.event_id, 'hex'))))
      expect(cov.leaf_index).toBe(seq - cp.first_seq)
      expect(cov.audit_path).toEqual(
        oraclePath(cov.leaf_index, leaves).map((h) => Buffer.from(h).toString('hex')),
      )
    }
    const cp = coverages[0]!.checkpoint
    const ok = ml_dsa65.verify(
      new Uint8Array(Buffer.from(cp.signature, 'hex')),
      new Uint8Array(Buffer.from(cp.checkpoint_id, 'hex')),
      TEST_KEY.publicKey,
      { context: new TextEncoder().encode('qfs-eqm-checkpoint/1') },
    )
    expect(ok).toBe(true)
  })

  it('fails when anything is tampered, with a reason and no exception', () => {
    const seq = 9
    const e = events[seq]!
    const cov = coverages[seq]!
    const cases: [string, unknown, unknown, Uint8Array?][] = [
      ['event field', { ...e, content_size: 1 }, cov],
      ['event id', { ...e, event_id: hexOf(1) }, cov],
      ['another entry', events[seq - 1], cov],
      ['leaf index', e, { ...cov, leaf_index: cov.leaf_index + 1 }],
      ['audit path', e, { ...cov, audit_path: [hexOf(2), ...cov.audit_path.slice(1)] }],
      ['short audit path', e, { ...cov, audit_path: cov.audit_path.slice(1) }],
      ['batch root', e, { ...cov, checkpoint: { ...cov.checkpoint, batch_root: hexOf(3) } }],
      // Signatures are hedged (randomized): the tamper flips a character rather than setting one.
      [
        'signature',
        e,
        { ...cov, checkpoint: { ...cov.checkpoint, signature: flipFirst(cov.checkpoint.signature) } },
      ],
      ['another checkpoint', e, { ...cov, checkpoint: coverages[0]!.checkpoint }],
      ['another key', e, cov, OTHER_KEY.publicKey],
      ['junk key', e, cov, new Uint8Array(5)],
      ['junk coverage', e, null],
      ['junk coverage object', e, { checkpoint: 1, leaf_index: 'a', audit_path: {} }],
      ['junk event', 'event', cov],
    ]
    for (const [name, event, coverage, key] of cases) {
      const r = verifyCoverage(event, coverage, key ?? TEST_KEY.publicKey)
      expect(r.ok, name).toBe(false)
      expect(typeof r.reason, name).toBe('string')
    }
  })

  it('coverage is undefined past the head and a typed error for a bad seq', async () => {
    expect(await log.coverage(N)).toBeUndefined()
    await expect(log.coverage(-1)).rejects.toMatchObject({ code: 'INVALID_INPUT' })
    await expect(log.coverage(1.5)).rejects.toMatchObject({ code: 'INVALID_INPUT' })
  })
})

/**
 * Checkpoints whose signature verifies but whose fields do not fit the entry: the key holder signing
 * a batch under another node's name, in another order or with another head; and a checkpoint's
 * fields changed after signing (the signature covers the id, so only the id check sees them).
 */
const raw = (id: string) => new Uint8Array(Buffer.from(id, 'hex'))
const CONTEXT = new TextEncoder().encode('qfs-eqm-checkpoint/1')

describe('verifyCoverage against a checkpoint that is signed but does not fit', () => {
  it('a re-signed unchanged checkpoint still covers every entry of its batch', () => {
    const cp = reSigned(coverages[8]!.checkpoint, {})
    for (const seq of [8, 9, 10]) {
      const cov = { ...coverages[seq]!, checkpoint: cp }
      expect(verifyCoverage(events[seq], cov, TEST_KEY.publicKey)).toEqual({ ok: true, reason: null })
    }
  })

  it('refuses a field changed after signing, though the signature over the old id still verifies', () => {
    const cov = coverages[9]!
    for (const [change, seq] of [
      [{ checkpoint_seq: 5 }, 5],
      [{ prev_checkpoint_id: hexOf(7) }, 2],
    ] as const) {
      const cp = { ...cov.checkpoint, ...change }
      expect(verifyCoverage(events[9], { ...cov, checkpoint: cp }, TEST_KEY.publicKey)).toEqual({
        ok: false,
        reason: `checkpoint ${seq}: id does not match its fields`,
      })
    }
  })

  it('refuses a checkpoint naming one key and signed with another', () => {
    // The body names TEST_KEY; OTHER_KEY signs that same id and is the key checked against.
    const cov = coverages[9]!
    const signature = ml_dsa65.sign(raw(cov.checkpoint.checkpoint_id), OTHER_KEY.secretKey, {
      context: CONTEXT,
    })
    const cp = { ...cov.checkpoint, signature: Buffer.from(signature).toString('hex') }
    expect(verifyCoverage(events[9], { ...cov, checkpoint: cp }, OTHER_KEY.publicKey)).toEqual({
      ok: false,
      reason: 'checkpoint 2: signed by another key',
    })
  })

  it('refuses a checkpoint of another node over the same entries', () => {
    const cov = coverages[9]!
    const cp = reSigned(cov.checkpoint, { node_id: 'node-z' })
    expect(verifyCoverage(events[9], { ...cov, checkpoint: cp }, TEST_KEY.publicKey)).toEqual({
      ok: false,
      reason: 'checkpoint is of another node',
    })
  })

  it('refuses an entry that sits at another leaf than its seq says', () => {
    // The batch 8..10 signed in the order 9, 8, 10: entry 9 is leaf 0 and its path proves it.
    const first = coverages[8]!.checkpoint
    const ids = [9, 8, 10].map((s) => raw(events[s]!.event_id))
    const cp = signCheckpoint(
      { node_id: NODE, checkpoint_seq: 2, first_seq: 8, prev_checkpoint_id: first.prev_checkpoint_id },
      ids,
      TEST_KEY,
    )
    const cov = coverageOf(cp, batchTree(ids), 0)
    expect(verifyCoverage(events[9], cov, TEST_KEY.publicKey)).toEqual({
      ok: false,
      reason: 'leaf_index does not match the event seq',
    })
  })

  it('refuses the last entry of a batch whose checkpoint names another head', () => {
    const cov = coverages[10]!
    const cp = reSigned(cov.checkpoint, { head_event_id: events[9]!.event_id })
    expect(verifyCoverage(events[10], { ...cov, checkpoint: cp }, TEST_KEY.publicKey)).toEqual({
      ok: false,
      reason: 'event is not the checkpoint head',
    })
  })
})

function flipFirst(hex: string): string {
  return (hex[0] === '0' ? '1' : '0') + hex.slice(1)
}
