/**
 * docs/operations.md's Operator API section lists what the code serves: every field of the
 * `/v1/status` schema in its row, and every `qfs_*` metric the node registers in the metrics table.
 */
import { readFileSync } from 'node:fs'
import { Registry } from 'prom-client'
import { describe, expect, it } from 'vitest'
import { listQuerySchema, readinessSchema, statusSchema } from '../../src/api/schemas.js'
import { NodeMetrics } from '../../src/daemon/metrics.js'
import { startPeerProber } from '../../src/daemon/peer-prober.js'
import { RecentFailures } from '../../src/engine/peer-health.js'

const ops = readFileSync(new URL('../../docs/operations.md', import.meta.url), 'utf8')
const api = ops.slice(ops.indexOf('## Operator API'))
const rows = api.split('\n').filter((l) => l.startsWith('| '))

describe('docs/operations.md Operator API', () => {
  it('names every /v1/status field in its row', () => {
    const row = rows.find((l) => l.startsWith('| `GET /v1/status`'))
    expect(row).toBeDefined()
    const fields = Object.keys(statusSchema.properties)
    expect(fields).toContain('suspect_peers')
    expect(fields.filter((f) => !new RegExp(`\\b${f}\\b`).test(row!))).toEqual([])
  })

  it('names every /readyz check in its row', () => {
    const row = rows.find((l) => l.startsWith('| `GET /readyz`'))
    expect(row).toBeDefined()
    const checks = Object.keys(readinessSchema.properties.checks.properties)
    expect(checks).toContain('eligible')
    expect(checks.filter((c) => !row!.includes(`"${c}"`))).toEqual([])
  })

  it('lists every qfs_* metric the node registers in the metrics table', async () => {
    const registry = new Registry()
    new NodeMetrics(registry)
    const names = (await registry.getMetricsAsJSON()).map((m) => m.name).filter((n) => n.startsWith('qfs_'))
    expect(names).toContain('qfs_suspect_peers')
    // The metric column: each name in backticks, labels in braces after it.
    const documented = new Set(
      rows
        .filter((l) => l.startsWith('| `qfs_'))
        .flatMap((l) => [...l.split(' | ')[0]!.matchAll(/`(qfs_[a-z_]+)/g)].map((m) => m[1]!)),
    )
    expect(names.filter((n) => !documented.has(n))).toEqual([])
  })

  it('names the labels of every qfs_* metric as the node registers them', () => {
    const registry = new Registry()
    new NodeMetrics(registry)
    // `qfs_x{a,b}` in the metric column; a row without braces documents unlabelled metrics.
    const documented = new Map(
      rows
        .filter((l) => l.startsWith('| `qfs_'))
        .flatMap((l) => [...l.split(' | ')[0]!.matchAll(/`(qfs_[a-z_]+)(?:\{([a-z_,]+)\})?`/g)])
        .map((m) => [m[1]!, m[2]?.split(',') ?? []] as const),
    )
    const drift = registry
      .getMetricsAsArray()
      .map((m) => ({ name: m.name, labels: [...((m as { labelNames?: string[] }).labelNames ?? [])] }))
      .filter((m) => m.name.startsWith('qfs_'))
      .filter((m) => JSON.stringify(documented.get(m.name)) !== JSON.stringify(m.labels))
    expect(drift).toEqual([])
  })

  it('counts unanswered probes in qfs_peer_failures_total, as its row says', async () => {
    // Wired as the daemon wires them: a probe left unanswered reports TIMEOUT to the peer health,
    // whose every failure is a qfs_peer_failures_total sample.
    const registry = new Registry()
    const metrics = new NodeMetrics(registry)
    const health = new RecentFailures({ onFailure: (peer, code) => metrics.peerFailed(peer, code) })
    const prober = startPeerProber({
      peers: () => ['peer-a'],
      ping: (_peer, signal) =>
        new Promise((_resolve, reject) => signal.addEventListener('abort', () => reject(signal.reason))),
      health,
      intervalMs: 60_000,
      timeoutMs: 5,
      // A frozen clock: the deadline never reads as late (a stalled test machine), so the probe reports.
      now: () => 0,
    })
    await prober.probeNow()
    await prober.stop()
    const text = await registry.getSingleMetricAsString('qfs_peer_failures_total')
    expect(text).toContain('qfs_peer_failures_total{node="peer-a",code="TIMEOUT"} 1')
    const row = rows.find((l) => l.startsWith('| `qfs_peer_failures_total'))
    expect(row).toMatch(/probes? a peer left unanswered \(`TIMEOUT`/)
  })

  it("names the statuses of what Node's HTTP parser refuses (app.ts answerClientError)", () => {
    // Outside the code-to-status table: INVALID_INPUT is 400 there, but a request too large is 431.
    const errors = api.slice(api.indexOf('Errors have one shape'), api.indexOf("The node's metrics"))
    expect(errors).toMatch(/431 `INVALID_INPUT`/)
    expect(errors).toMatch(/408 `TIMEOUT`/)
  })

  it('names every /v1/objects query parameter in its row, with the bounds the schema applies', () => {
    const row = rows.find((l) => l.startsWith('| `GET /v1/objects`'))!
    const params = Object.keys(listQuerySchema.properties)
    expect(params.filter((p) => !row.includes(`\`${p}\``))).toEqual([])
    const prefix = /\{(\d+),(\d+)\}/.exec(listQuerySchema.properties.prefix.pattern)!
    expect(row).toContain(`\`prefix\` (lower-case hex, ${prefix[1]}..${prefix[2]} characters)`)
    const { limit, tag } = listQuerySchema.properties
    expect(row).toContain(`\`limit\` (${limit.minimum}..${limit.maximum})`)
    expect(row).toContain(`(${tag.minLength}..${tag.maxLength} UTF-16 code units each`)
  })
})
