import { Registry } from 'prom-client'
import { describe, expect, it } from 'vitest'
import { type MetricsSources, NodeMetrics } from '../../src/daemon/metrics.js'
import { NodeBusyError } from '../../src/net/errors.js'
import type { SlotUse } from '../../src/net/service.js'

const ZERO_SLOTS: SlotUse = {
  reads: 0,
  writes: 0,
  proofs: 0,
  listings: 0,
  readYields: 0,
  writeYields: 0,
  proofYields: 0,
  listingYields: 0,
}
const STATS = { bytes_stored: 0, shards: 0, objects: 0, versions: 0 }

function sources(over: Partial<MetricsSources> = {}): MetricsSources {
  return {
    storeStats: async () => STATS as never,
    space: async () => null,
    peerCount: () => 0,
    suspectCount: () => 0,
    slotsInUse: () => ({ ...ZERO_SLOTS }),
    epoch: () => undefined,
    logEntries: () => 0,
    ...over,
  }
}

describe('NodeMetrics', () => {
  it('adds to the slot yield counters only what was counted since the last scrape', async () => {
    const metrics = new NodeMetrics(new Registry())
    const use = { readYields: 3, writeYields: 0, proofYields: 1, listingYields: 0 }
    metrics.bind(sources({ slotsInUse: () => ({ ...ZERO_SLOTS, ...use }) }))
    expect(await metrics.registry.metrics()).toContain('qfs_slot_yields_total{kind="read"} 3')
    use.readYields = 5
    const text = await metrics.registry.metrics()
    expect(text).toContain('qfs_slot_yields_total{kind="read"} 5')
    expect(text).toContain('qfs_slot_yields_total{kind="proof"} 1')
  })

  it('without a space guard: free bytes -1, accepting writes 1; a full store: accepting writes 0', async () => {
    const metrics = new NodeMetrics(new Registry())
    metrics.bind(sources())
    let text = await metrics.registry.metrics()
    expect(text).toContain('qfs_storage_free_bytes -1')
    expect(text).toContain('qfs_storage_accepting_writes 1')
    expect(text).toContain('qfs_epoch -1')
    metrics.bind(
      sources({ space: async () => ({ free_bytes: 7, accepting_writes: false }) as never, epoch: () => 4 }),
    )
    text = await metrics.registry.metrics()
    expect(text).toContain('qfs_storage_free_bytes 7')
    expect(text).toContain('qfs_storage_accepting_writes 0')
    expect(text).toContain('qfs_epoch 4')
  })

  it('counts an exchange refused before it ran as a failed request of its op, by code', async () => {
    const metrics = new NodeMetrics(new Registry())
    metrics.reject('replica', 'NOT_ELIGIBLE')
    const text = await metrics.registry.metrics()
    expect(text).toContain('qfs_requests_total{op="replica",outcome="error"} 1')
    expect(text).toContain('qfs_request_errors_total{op="replica",code="NOT_ELIGIBLE"} 1')
  })

  it('counts what an admission refuses by the refusal code, anything else as INTERNAL, and passes an admission through', async () => {
    const metrics = new NodeMetrics(new Registry())
    expect(metrics.countingRefusals('/v1/objects', () => 'slot')).toBe('slot')
    expect(() =>
      metrics.countingRefusals('/v1/objects', () => {
        throw new NodeBusyError('every listing slot is taken')
      }),
    ).toThrow(NodeBusyError)
    expect(() =>
      metrics.countingRefusals('/v1/objects', () => {
        throw new Error('bug')
      }),
    ).toThrow('bug')
    const text = await metrics.registry.metrics()
    expect(text).toContain('qfs_exchange_failures_total{protocol="/v1/objects",code="NODE_BUSY"} 1')
    expect(text).toContain('qfs_exchange_failures_total{protocol="/v1/objects",code="INTERNAL"} 1')
  })
})
