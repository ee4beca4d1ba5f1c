import { describe, expect, it } from 'vitest'
import { EventLog } from '../../src/log/event-log.js'
import { memoryDb, NODE, storeFields, TEST_KEY } from './fixtures.js'

/** What LevelDB puts in its messages: file paths that must not reach a caller's error_detail. */
const DB_TEXT = 'IO error: /var/lib/qfs/node/db/000042.ldb: Input/output error'

/** A database whose writes fail as a broken disk makes them fail once `failing.on` is set. */
function failingDb() {
  const db = memoryDb()
  const failing = { on: false }
  const batch = db.batch.bind(db) as (...args: unknown[]) => Promise<void>
  const put = db.put.bind(db) as (...args: unknown[]) => Promise<void>
  // Sublevels write through the root's put and batch, so these see every write of the log.
  Object.assign(db, {
    batch: (...args: unknown[]) => (failing.on ? Promise.reject(new Error(DB_TEXT)) : batch(...args)),
    put: (...args: unknown[]) => (failing.on ? Promise.reject(new Error(DB_TEXT)) : put(...args)),
  })
  return { db, failing }
}

async function rejection(p: Promise<unknown>): Promise<Error> {
  return p.then(
    () => {
      throw new Error('expected a rejection')
    },
    (e: unknown) => e as Error,
  )
}

describe('EventLog write failures', () => {
  it('an append whose batch fails names no database text; the raw error stays as cause', async () => {
    const { db, failing } = failingDb()
    const log = new EventLog({ db, nodeId: NODE, key: TEST_KEY }, { checkpointDelayMs: 3_600_000 })
    await log.open()
    failing.on = true
    const err = await rejection(log.append(storeFields(1)))
    expect(err).toMatchObject({ code: 'LOG_WRITE_FAILED' })
    expect(err.message).not.toContain('/var/lib')
    expect(err.message).not.toContain('IO error')
    expect((err.cause as Error).message).toBe(DB_TEXT)
    failing.on = false
    await log.close()
  })

  it('a checkpoint whose write fails names no database text; the raw error stays as cause', async () => {
    const { db, failing } = failingDb()
    const log = new EventLog({ db, nodeId: NODE, key: TEST_KEY }, { checkpointDelayMs: 3_600_000 })
    await log.open()
    await log.append(storeFields(0))
    failing.on = true
    const err = await rejection(log.flush())
    expect(err).toMatchObject({ code: 'LOG_WRITE_FAILED', message: 'checkpoint 0 write failed' })
    expect((err.cause as Error).message).toBe(DB_TEXT)
    failing.on = false
    await log.close()
  })

  it('reports the failing state once when appends start failing, and once when one is written again', async () => {
    const { db, failing } = failingDb()
    const heard: unknown[] = []
    const log = new EventLog(
      { db, nodeId: NODE, key: TEST_KEY },
      { checkpointDelayMs: 3_600_000, onWriteHealth: (f) => heard.push(f) },
    )
    await log.open()
    await log.append(storeFields(0))
    expect(log.writeFailure()).toBeUndefined()
    failing.on = true
    // Alone and grouped (appends queued behind a write go out together, then one by one on failure).
    await rejection(log.append(storeFields(1)))
    await Promise.all([1, 2, 3].map((i) => rejection(log.append(storeFields(i)))))
    expect(log.writeFailure()).toEqual({ reason: DB_TEXT, seq: 1 })
    expect(heard).toEqual([{ reason: DB_TEXT, seq: 1 }])
    failing.on = false
    const written = await log.append(storeFields(1))
    expect(written.seq).toBe(1)
    expect(log.writeFailure()).toBeUndefined()
    expect(heard).toEqual([{ reason: DB_TEXT, seq: 1 }, undefined])
    await log.close()
  })
})
