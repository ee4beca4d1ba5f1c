import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { InvalidInputError, QfsError } from '../../src/core/errors.js'
import { objectId } from '../../src/core/ids.js'
import { IntegrityMismatchError, NodeUnavailableError } from '../../src/engine/errors.js'
import { failure, MAX_DETAIL_CHARS, safeDetail } from '../../src/engine/responses.js'
import type { MiniNetwork } from '../../src/node/mini-network.js'
import { inProcessHarness } from './harness.js'
import { bytesOf, meta } from './suite.js'

/**
 * PROTOCOL.md "internal errors never leak", and error_detail is bounded: 1024 characters on the wire
 * (ERROR frames, Failure answers) and in events. A failure whose detail is longer could not be logged
 * (the call would get storage_event_id null) and a remote client would refuse the answer.
 */
const SECRET = `IO error: /var/lib/qfs/node/store/000042.ldb: Input/output error ${'#'.repeat(400)}`

describe('safeDetail', () => {
  it('shows our own client-facing messages, bounded to MAX_DETAIL_CHARS', () => {
    expect(safeDetail(new InvalidInputError('version must be >= 1'))).toBe('version must be >= 1')
    const long = new IntegrityMismatchError('x'.repeat(5000))
    expect(safeDetail(long)).toBe('x'.repeat(MAX_DETAIL_CHARS))
    expect(MAX_DETAIL_CHARS).toBeLessThanOrEqual(1024)
  })

  it('never shows the message of an error outside the QfsError family or of an internal class', () => {
    expect(safeDetail(new Error(SECRET))).toBe('internal error')
    expect(safeDetail(SECRET)).toBe('internal error')
    expect(safeDetail(undefined)).toBe('internal error')
    // Codes the SE_ERR_* table does not know are internal (LOG_WRITE_FAILED, STORE_CLOSED, ...).
    expect(safeDetail(new QfsError('LOG_WRITE_FAILED', SECRET))).toBe('internal error')
    const unavailable = safeDetail(new NodeUnavailableError(`cannot open: ${SECRET}`))
    expect(unavailable).not.toContain('/var/lib')
    expect(unavailable).toMatch(/node/)
    expect(failure(new Error(SECRET), null)).toEqual({
      ok: false,
      error_code: 'SE_ERR_INTERNAL',
      error_detail: 'internal error',
      code: 'INTERNAL',
      storage_event_id: null,
    })
  })

  it('never splits a surrogate pair at the cut, and replaces lone surrogates (the log refuses them)', () => {
    const cut = safeDetail(new InvalidInputError(`${'a'.repeat(MAX_DETAIL_CHARS - 1)}\u{1F600}tail`))
    expect(cut).toBe('a'.repeat(MAX_DETAIL_CHARS - 1))
    expect(safeDetail(new InvalidInputError('bad \ud800 text'))).toBe('bad \ufffd text')
    // A pair that ends exactly at the cut is kept whole.
    const whole = safeDetail(new InvalidInputError(`${'a'.repeat(MAX_DETAIL_CHARS - 2)}\u{1F600}tail`))
    expect(whole).toBe(`${'a'.repeat(MAX_DETAIL_CHARS - 2)}\u{1F600}`)
    // A lone high surrogate at the end of a short detail is replaced, not dropped.
    expect(safeDetail(new InvalidInputError('bad \ud800'))).toBe('bad \ufffd')
  })
})

describe('error_detail of failures that come from inside a node', () => {
  let net: MiniNetwork
  let ids: string[]
  beforeAll(async () => {
    const h = await inProcessHarness(5)
    net = h.net
    ids = h.nodeIds
  })
  afterAll(async () => {
    await net?.close()
  })

  it('a read whose replicas all fail internally answers a safe, bounded detail', async () => {
    const oid = objectId('review', 'leak-read')
    expect((await net.engine(ids[0]!).putContent(oid, 1, bytesOf('leak', 3000), meta(1))).ok).toBe(true)
    net.transport.tamper = () => {
      throw new Error(SECRET)
    }
    try {
      const r = await net.engine(ids[1]!).getContent(oid, 1)
      expect(r.ok).toBe(false)
      if (r.ok) return
      expect(r.error_detail).not.toContain('/var/lib/qfs')
      expect(r.error_detail.length).toBeLessThanOrEqual(MAX_DETAIL_CHARS)
      expect(r.storage_event_id).not.toBeNull()
    } finally {
      net.transport.tamper = undefined
    }
  })

  it('a proof whose replicas all fail internally is still logged (one event per call)', async () => {
    const oid = objectId('review', 'leak-proof')
    const put = await net.engine(ids[0]!).putContent(oid, 1, bytesOf('leak-proof', 3000), meta(1))
    expect(put.ok).toBe(true)
    if (!put.ok) return
    const originals = ids.map((id) => net.node(id).service.proveShard)
    for (const id of ids) {
      net.node(id).service.proveShard = async () => {
        throw new Error(SECRET)
      }
    }
    try {
      const entries = net.node(ids[1]!).log.head().entries
      const r = await net.engine(ids[1]!).getStorageProof(oid, 1, put.shard_ids[0]!)
      expect(r.ok).toBe(false)
      if (r.ok) return
      expect(r.error_detail).not.toContain('/var/lib/qfs')
      expect(r.error_detail.length).toBeLessThanOrEqual(MAX_DETAIL_CHARS)
      expect(r.storage_event_id).not.toBeNull()
      const event = await net.node(ids[1]!).log.get(entries)
      expect(event).toMatchObject({
        event_id: r.storage_event_id,
        event_type: 'GET_PROOF',
        error_code: r.error_code,
        error_detail: r.error_detail,
      })
    } finally {
      ids.forEach((id, i) => {
        net.node(id).service.proveShard = originals[i]!
      })
    }
  })

  it('a client-facing detail too long for the wire is cut, and the failed call is still logged', async () => {
    // normalizeMetadata names the unknown key in its message: 5000 characters of it here.
    const m = { ...meta(1), ['k'.repeat(5000)]: 1 }
    const r = await net.engine(ids[2]!).putContent(objectId('review', 'long-detail'), 1, bytesOf('x', 1), m)
    expect(r).toMatchObject({ ok: false, code: 'INVALID_METADATA', error_code: 'SE_ERR_INVALID_INPUT' })
    if (r.ok) return
    expect(r.error_detail.length).toBe(MAX_DETAIL_CHARS)
    expect(r.error_detail.startsWith('unknown metadata key "kkk')).toBe(true)
    expect(r.storage_event_id).not.toBeNull()
  })
})
