import { describe, expect, it } from 'vitest'
import type { VersionRecord } from '../../src/core/record.js'
import type { EngineFailure } from '../../src/engine/responses.js'
import { confirmRecord, type RecordSource } from '../../src/sdk/confirm-record.js'
import { fixture } from './stub.js'

/** `confirmRecord` over scripted record sources: the majority rule and what each answer says. */
const f = fixture('confirm-record', 600_000)
const rootsChanged: VersionRecord = {
  ...f.record,
  shards: f.record.shards.map((s, i) => (i === 1 ? { ...s, merkle_root: 'cd'.repeat(32) } : s)),
}
const notFound: EngineFailure = {
  ok: false,
  error_code: 'SE_ERR_NOT_FOUND',
  error_detail: 'no such version',
  code: 'NOT_FOUND',
  storage_event_id: null,
}

/** A source answering `answer`, counting its calls. */
function source(
  answer: VersionRecord | EngineFailure | Error,
  nodeId?: string,
): RecordSource & { calls: number } {
  const s = {
    nodeId,
    calls: 0,
    getRecord: async () => {
      s.calls++
      if (answer instanceof Error) throw answer
      // A copy, as a client's answer would be: equality must be by content, not by object.
      return structuredClone(answer)
    },
  }
  return s
}

describe('confirmRecord', () => {
  it('confirms a record every node resolves byte for byte', async () => {
    const answer = await confirmRecord([source(f.record), source(f.record), source(f.record)], f.record)
    expect(answer).toEqual({
      ok: true,
      confirmed: true,
      agreeing: 3,
      answers: [0, 1, 2].map(() => ({ hash_commit: f.record.hash_commit })),
    })
  })

  it('does not confirm a record with the true hash_commit but other Merkle roots, and names the field', async () => {
    const answer = await confirmRecord([source(f.record), source(f.record), source(f.record)], rootsChanged)
    expect(answer).toMatchObject({ ok: true, confirmed: false, agreeing: 0 })
    if (answer.ok)
      expect(answer.answers).toEqual(
        [0, 1, 2].map(() => ({ hash_commit: f.record.hash_commit, differs: ['shards'] })),
      )
  })

  it('counts failures, thrown errors and other records against; one liar among three neither blocks nor passes', async () => {
    const liar = source(rootsChanged)
    expect(await confirmRecord([liar, source(f.record), source(f.record)], f.record)).toMatchObject({
      confirmed: true,
      agreeing: 2,
    })
    expect(await confirmRecord([liar, source(f.record), source(f.record)], rootsChanged)).toMatchObject({
      confirmed: false,
      agreeing: 1,
    })
    const answer = await confirmRecord(
      [source(notFound), source(new Error('boom')), source(f.record)],
      f.record,
    )
    expect(answer).toEqual({
      ok: true,
      confirmed: false,
      agreeing: 1,
      answers: [{ code: 'NOT_FOUND' }, { code: 'INTERNAL' }, { hash_commit: f.record.hash_commit }],
    })
  })

  it('refuses bad input before asking anyone (INVALID_INPUT): no sources, one twice, a non-source, a bad record', async () => {
    const s = source(f.record, 'node-a')
    const cases: Array<[unknown, unknown]> = [
      [[], f.record],
      [[s, source(f.record, 'node-a')], f.record],
      [[s, s], f.record],
      [[{}], f.record],
      ['node-a', f.record],
      [[s], { ...f.record, hash_commit: 'not hex' }],
      [[s], { ...f.record, version: 0 }],
      [[s], null],
    ]
    for (const [sources, record] of cases) {
      expect(await confirmRecord(sources as RecordSource[], record as VersionRecord)).toMatchObject({
        ok: false,
        code: 'INVALID_INPUT',
        storage_event_id: null,
      })
    }
    expect(s.calls).toBe(0)
  })
})
