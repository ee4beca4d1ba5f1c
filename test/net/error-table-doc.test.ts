/**
 * docs/protocol.md section 5 is the code list a client in another language works from: each code a
 * node sends has a row, the row's `SE_ERR_*` class is the one the node sends with it, and metrics keep
 * every such code as its own label (not `OTHER`).
 */
import { readFileSync } from 'node:fs'
import { Registry } from 'prom-client'
import { describe, expect, it } from 'vitest'
import { QfsError, storageErrorCode } from '../../src/core/errors.js'
import { METRIC_ERROR_CODES, NodeMetrics } from '../../src/daemon/metrics.js'
import { NotDecidedError } from '../../src/engine/acceptance.js'
import { StoreClosedError } from '../../src/store/errors.js'

const doc = readFileSync(new URL('../../docs/protocol.md', import.meta.url), 'utf8')
const section = doc.slice(doc.indexOf('## 5. Errors'), doc.indexOf('## 6.'))
/** Each row's codes (a row may name several) with its `SE_ERR_*` class. */
const rows = section
  .split('\n')
  .filter((l) => l.startsWith('| `'))
  .flatMap((l) => {
    const [codes, errorCode] = l.split(' | ')
    const cls = /`(SE_ERR_[A-Z_]+)`/.exec(errorCode!)![1]!
    return [...codes!.matchAll(/`([A-Z_]+)`/g)].map((m) => ({ code: m[1]!, errorCode: cls }))
  })

describe('docs/protocol.md section 5 error table', () => {
  it('lists the codes a node sends on replica/rpc: NOT_DECIDED (4.7) and STORE_CLOSED (stopping)', () => {
    const codes = rows.map((r) => r.code)
    expect(codes).toContain(NotDecidedError.code)
    expect(codes).toContain(StoreClosedError.code)
  })

  it('gives each code the SE_ERR_* class the node sends with it', () => {
    const drift = rows.filter((r) => storageErrorCode(new QfsError(r.code, 'x')) !== r.errorCode)
    expect(drift).toEqual([])
  })

  it('has every code kept as its own metric label', async () => {
    expect(rows.map((r) => r.code).filter((c) => !METRIC_ERROR_CODES.has(c))).toEqual([])
    const registry = new Registry()
    new NodeMetrics(registry).peerFailed('peer-a', NotDecidedError.code)
    expect(await registry.getSingleMetricAsString('qfs_peer_failures_total')).toContain(
      'qfs_peer_failures_total{node="peer-a",code="NOT_DECIDED"} 1',
    )
  })
})
