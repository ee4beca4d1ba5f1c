import { prometheusMetrics } from '@libp2p/prometheus-metrics'
import { Registry } from 'prom-client'
import { describe, expect, it } from 'vitest'
import { withForgetfulGroups, zeroingGone } from '../../src/daemon/libp2p-metrics.js'
import { libp2pLogger } from '../../src/net/libp2p-node.js'

/** A calculated group through the real @libp2p/prometheus-metrics, scraped like /metrics. */
async function scrapeAfter(wrap: boolean, rounds: Array<Record<string, number>>): Promise<string> {
  const registry = new Registry()
  const factory = prometheusMetrics({ registry, collectDefaultMetrics: false })
  const metrics = (wrap ? withForgetfulGroups(factory) : factory)({ logger: libp2pLogger({}) } as never)
  let now: Record<string, number> = {}
  metrics.registerMetricGroup('test_streams_total', { label: 'protocol', calculate: () => now })
  let text = ''
  for (const values of rounds) {
    now = values
    text = await registry.metrics()
  }
  return text
}

describe('libp2p calculated metric groups', () => {
  it('report 0 for a label that is gone, where the library keeps its last value', async () => {
    const rounds: Array<Record<string, number>> = [
      { 'inbound read': 48, 'inbound write': 2 },
      { 'inbound write': 1 },
    ]
    const stale = await scrapeAfter(false, rounds)
    expect(stale).toContain('test_streams_total{protocol="inbound read"} 48')
    const fixed = await scrapeAfter(true, rounds)
    expect(fixed).toContain('test_streams_total{protocol="inbound read"} 0')
    expect(fixed).toContain('test_streams_total{protocol="inbound write"} 1')
  })

  it('zeroingGone returns what is counted now plus 0 for every label seen before', async () => {
    const sequence: Array<Record<string, number>> = [{ a: 1 }, { b: 2 }, {}, { a: 3 }]
    let i = 0
    const calc = zeroingGone(() => sequence[i++]!)
    expect(await calc()).toEqual({ a: 1 })
    expect(await calc()).toEqual({ a: 0, b: 2 })
    expect(await calc()).toEqual({ a: 0, b: 0 })
    expect(await calc()).toEqual({ a: 3, b: 0 })
  })
})
