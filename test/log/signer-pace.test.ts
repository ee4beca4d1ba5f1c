import { afterEach, describe, expect, it, vi } from 'vitest'
import { EventLog } from '../../src/log/event-log.js'
import { memoryDb, NODE, storeFields, TEST_KEY } from './fixtures.js'

/** When checkpoints are signed: after quiet since the last append, and appends held back while signing lags. */

const settle = async () => {
  for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r))
}

describe('checkpoint pace', () => {
  afterEach(() => {
    vi.useRealTimers()
  })

  it('the quiet delay counts from the last append, not the first', async () => {
    // Only setTimeout is faked: the database and the signer's setImmediate run for real.
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] })
    const log = new EventLog(
      { db: memoryDb(), nodeId: NODE, key: TEST_KEY },
      { checkpointEvery: 100, checkpointDelayMs: 1000 },
    )
    await log.open()
    await log.append(storeFields(0))
    await vi.advanceTimersByTimeAsync(600)
    await log.append(storeFields(1))
    await vi.advanceTimersByTimeAsync(600)
    await settle()
    // 1200 ms after the first append, 600 ms after the last: still quiet.
    expect(log.head().covered_entries).toBe(0)
    await vi.advanceTimersByTimeAsync(500)
    await settle()
    expect(log.head()).toMatchObject({ covered_entries: 2, checkpoints: 1 })
    await log.close()
  })

  it('appends wait while four batches are unsigned, so the uncovered tail stays bounded', async () => {
    const db = memoryDb()
    // Checkpoint writes (single puts; entries go in batches) take 20 ms: signing lags the appends.
    const put = db.put.bind(db) as (...args: unknown[]) => Promise<void>
    Object.assign(db, {
      put: async (...args: unknown[]) => {
        await new Promise((r) => setTimeout(r, 20))
        return put(...args)
      },
    })
    const log = new EventLog(
      { db, nodeId: NODE, key: TEST_KEY },
      { checkpointEvery: 1, checkpointDelayMs: 3_600_000 },
    )
    await log.open()
    let most = 0
    for (let i = 0; i < 30; i++) {
      await log.append(storeFields(i))
      const h = log.head()
      most = Math.max(most, h.entries - h.covered_entries)
    }
    // 4 x checkpointEvery unsigned hold the next append back; the append that waited then commits.
    expect(most).toBeLessThanOrEqual(5)
    await log.close()
    expect((await log.verify()).ok).toBe(true)
  })
})
