/**
 * docs/operations.md's Operator API section lists what the code serves: every field of the
 * `/v1/status` schema in its row, and every `qfs_*` metric the node registers in the metrics table.
 */
import { readFileSync } from 'node:fs'
import { Registry } from 'prom-client'
import { describe, expect, it } from 'vitest'
import { readinessSchema, statusSchema } from '../../src/api/schemas.js'
import { NodeMetrics } from '../../src/daemon/metrics.js'

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
})
