import { readFileSync } from 'node:fs'
import { describe, expect, it, vi } from 'vitest'
import { EventLog } from '../../src/log/event-log.js'
import { memoryDb, NODE, storeFields, TEST_KEY } from './fixtures.js'

/**
 * docs/audit-log.md "Checkpoints": "After `checkpointEvery` (256) uncovered entries, or
 * `checkpointDelayMs` (1 s) after the last append, the node signs the uncovered batch." The daemon
 * opens its log with the defaults, so they are what an operator gets; the other log tests set both.
 */

const doc = readFileSync(new URL('../../docs/audit-log.md', import.meta.url), 'utf8')
const every = Number(/`checkpointEvery` \((\d+)\)/.exec(doc)![1])
const delayMs = Number(/`checkpointDelayMs` \((\d+) s\)/.exec(doc)![1]) * 1000

describe('docs/audit-log.md checkpoint pace, by default', () => {
  it('signs once 256 entries wait, not at 255', async () => {
    expect(every).toBe(256)
    const log = new EventLog(
      { db: memoryDb(), nodeId: NODE, key: TEST_KEY },
      { checkpointDelayMs: 3_600_000 },
    )
    await log.open()
    for (let i = 0; i < every - 1; i++) await log.append(storeFields(i))
    await new Promise((resolve) => setTimeout(resolve, 50))
    expect(log.head().covered_entries).toBe(0)
    await log.append(storeFields(every - 1))
    await vi.waitFor(() => expect(log.head()).toMatchObject({ covered_entries: every, checkpoints: 1 }), {
      timeout: 10_000,
      interval: 5,
    })
    await log.close()
  })

  it('signs 1 s after the last append, and not before', async () => {
    expect(delayMs).toBe(1000)
    const log = new EventLog({ db: memoryDb(), nodeId: NODE, key: TEST_KEY })
    await log.open()
    const appended = Date.now()
    await log.append(storeFields(0))
    // A timer fires late on a loaded machine, never early: nothing is signed at half the delay.
    await new Promise((resolve) => setTimeout(resolve, delayMs / 2))
    expect(log.head().covered_entries).toBe(0)
    await vi.waitFor(() => expect(log.head().covered_entries).toBe(1), { timeout: 10_000, interval: 5 })
    expect(Date.now() - appended).toBeGreaterThanOrEqual(delayMs - 5)
    await log.close()
  })
})
