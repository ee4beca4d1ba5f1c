import { readFile } from 'node:fs/promises'
import { describe, expect, it } from 'vitest'
import { EventLog } from '../../src/log/event-log.js'
import { collect, memoryDb, NODE, oracleHashHex, storeFields, TEST_KEY } from './fixtures.js'

/** The keys docs/audit-log.md lists in its checkpoint table (first column, back-quoted). */
async function documentedCheckpointKeys(): Promise<string[]> {
  const doc = await readFile(new URL('../../docs/audit-log.md', import.meta.url), 'utf8')
  const section = doc.slice(doc.indexOf('## Checkpoints'), doc.indexOf('An auditor checks'))
  return [...section.matchAll(/^\| (.+?) \|/gm)].flatMap((row) =>
    [...row[1]!.matchAll(/`([a-z_]+)`/g)].map((m) => m[1]!),
  )
}

describe('docs/audit-log.md checkpoint table', () => {
  it('lists every stored key, and checkpoint_id is SHA3-256(JCS(the fields above it)) by an independent oracle', async () => {
    const keys = await documentedCheckpointKeys()
    const log = new EventLog(
      { db: memoryDb(), nodeId: NODE, key: TEST_KEY },
      { checkpointDelayMs: 3_600_000 },
    )
    await log.open()
    for (let i = 0; i < 3; i++) await log.append(storeFields(i))
    await log.flush()
    const [cp] = await collect(log.checkpoints())
    await log.close()
    const stored = cp as unknown as Record<string, unknown>
    expect([...keys].sort()).toEqual(Object.keys(stored).sort())
    // "the fields above" checkpoint_id's row: exactly those, hashed with @noble/hashes over a separate JCS.
    const above = keys.slice(0, keys.indexOf('checkpoint_id'))
    expect(above).not.toContain('signature')
    const body = Object.fromEntries(above.map((k) => [k, stored[k]]))
    expect(oracleHashHex(body)).toBe(cp!.checkpoint_id)
  })
})
