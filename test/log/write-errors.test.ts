import { describe, expect, it, vi } from 'vitest'
import { MAX_EVENT_BYTES } from '../../src/log/event.js'
import { EventLog } from '../../src/log/event-log.js'
import { collect, memoryDb, NODE, storeFields, TEST_KEY } from './fixtures.js'

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

  it('an entry too large to build is INVALID_INPUT, alone or grouped, and no write failure', async () => {
    const heard: unknown[] = []
    const log = new EventLog(
      { db: memoryDb(), nodeId: NODE, key: TEST_KEY },
      { checkpointDelayMs: 3_600_000, onWriteHealth: (f) => heard.push(f) },
    )
    await log.open()
    // Each field passes its own check; only the whole entry is above the bound.
    const huge = { event_type: 'AUDIT' as const, details: { blob: 'a'.repeat(MAX_EVENT_BYTES) } }
    await expect(log.append(huge)).rejects.toMatchObject({ code: 'INVALID_INPUT' })
    const grouped = await Promise.allSettled([
      log.append(storeFields(0)),
      log.append(storeFields(1)),
      log.append(huge),
      log.append(storeFields(2)),
    ])
    expect(
      grouped.map((o) => (o.status === 'rejected' ? (o.reason as { code: string }).code : 'ok')),
    ).toEqual(['ok', 'ok', 'INVALID_INPUT', 'ok'])
    expect(log.writeFailure()).toBeUndefined()
    expect(heard).toEqual([])
    expect((await collect(log.iterate())).map((e) => e.timestamp_tick)).toEqual([1000, 1001, 1002])
    await log.close()
  })
  it('a refused entry settles after every append queued ahead of it, so a flush behind it covers them', async () => {
    const log = new EventLog(
      { db: memoryDb(), nodeId: NODE, key: TEST_KEY },
      { checkpointDelayMs: 3_600_000 },
    )
    await log.open()
    const huge = { event_type: 'AUDIT' as const, details: { blob: 'a'.repeat(MAX_EVENT_BYTES) } }
    const order: string[] = []
    const settled = (name: string, p: Promise<unknown>) =>
      p.then(
        () => order.push(name),
        () => order.push(name),
      )
    // The first goes out alone; the three queued behind it form one group.
    const all = [
      settled('first', log.append(storeFields(0))),
      settled('a', log.append(storeFields(1))),
      settled('b', log.append(storeFields(2))),
      settled('huge', log.append(huge)),
    ]
    await log.flush()
    expect(log.head()).toMatchObject({ entries: 3, covered_entries: 3 })
    await Promise.all(all)
    expect(order.indexOf('huge')).toBeGreaterThan(order.indexOf('b'))
    await log.close()
  })

  it('of two failed checkpoint runs before a flush, the flush reports the first', async () => {
    const db = memoryDb()
    // Entries commit (batches); every checkpoint write (a put) fails, each with its own error.
    let puts = 0
    Object.assign(db, { put: () => Promise.reject(new Error(`put ${++puts}`)) })
    const log = new EventLog(
      { db, nodeId: NODE, key: TEST_KEY },
      { checkpointEvery: 1, checkpointDelayMs: 3_600_000 },
    )
    await log.open()
    await log.append(storeFields(0))
    // The count trigger's run fails in the background; the flush's own run fails again.
    await vi.waitFor(() => expect(puts).toBe(1), { timeout: 10_000, interval: 5 })
    const err = await rejection(log.flush())
    expect(puts).toBe(2)
    expect((err.cause as Error).message).toBe('put 1')
  })
})
