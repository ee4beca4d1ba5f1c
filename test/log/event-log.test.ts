import { describe, expect, it, vi } from 'vitest'
import { type StorageEvent, ZERO_ID } from '../../src/log/event.js'
import { EventLog } from '../../src/log/event-log.js'
import { LOG_SUBLEVEL, seqKey } from '../../src/log/log-store.js'
import { collect, memoryDb, NODE, OTHER_KEY, oracleEventId, storeFields, TEST_KEY } from './fixtures.js'

// Long delay: no checkpoint timer fires unless a test wants one.
const QUIET = { checkpointDelayMs: 3_600_000 }
// Generous: the machine may be busy; the condition, not the time, is what is tested.
const WAIT = { timeout: 10_000, interval: 5 }

async function openLog(db = memoryDb(), options = {}) {
  const log = new EventLog({ db, nodeId: NODE, key: TEST_KEY }, { ...QUIET, ...options })
  await log.open()
  return { db, log }
}

function deferred<T>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void
  const promise = new Promise<T>((r) => {
    resolve = r
  })
  return { promise, resolve }
}

function errCode(err: unknown): string | undefined {
  return (err as { code?: string }).code
}

describe('EventLog chain', () => {
  it('fills seq, prev_event_id, node_id and an id an independent oracle recomputes', async () => {
    const { log } = await openLog()
    const events: StorageEvent[] = []
    for (let i = 0; i < 5; i++) events.push(await log.append(storeFields(i)))
    events.forEach((e, i) => {
      expect(e.seq).toBe(i)
      expect(e.node_id).toBe(NODE)
      expect(e.prev_event_id).toBe(i === 0 ? ZERO_ID : events[i - 1]!.event_id)
      expect(e.event_id).toBe(oracleEventId(e as unknown as Record<string, unknown>))
    })
    expect(await collect(log.iterate())).toEqual(events)
    expect(await collect(log.iterate({ from: 1, to: 3 }))).toEqual(events.slice(1, 4))
    expect(await log.get(4)).toEqual(events[4])
    expect(await log.get(5)).toBeUndefined()
    expect(log.head()).toMatchObject({ entries: 5, last_event_id: events[4]!.event_id })
  })

  it('200 concurrent appends produce a gap-free chain', async () => {
    const { log } = await openLog(memoryDb(), { checkpointEvery: 64 })
    const results = await Promise.all(Array.from({ length: 200 }, (_, i) => log.append(storeFields(i))))
    expect(results.map((e) => e.seq).sort((a, b) => a - b)).toEqual(Array.from({ length: 200 }, (_, i) => i))
    const stored = await collect(log.iterate())
    expect(stored).toHaveLength(200)
    stored.forEach((e, i) => {
      expect(e.seq).toBe(i)
      expect(e.prev_event_id).toBe(i === 0 ? ZERO_ID : stored[i - 1]!.event_id)
    })
    const v = await log.verify()
    expect(v).toMatchObject({
      ok: true,
      code: null,
      entries: 200,
      checkpoints: 4,
      first_bad_seq: null,
      reason: null,
    })
    expect(v).toMatchObject({ head_seq: 199, head_event_id: stored[199]!.event_id })
  })
})

describe('EventLog atomicity', () => {
  it('writes the caller ops in the same batch as the entry', async () => {
    const { db, log } = await openLog()
    const blocks = db.sublevel<string, string>('blocks', {})
    const e = await log.append(storeFields(0), [
      { type: 'put', sublevel: blocks, key: 'k1', value: 'v1' },
      { type: 'put', sublevel: blocks, key: 'k2', value: 'v2' },
    ])
    expect(await blocks.get('k1')).toBe('v1')
    expect(await blocks.get('k2')).toBe('v2')
    expect((await log.get(e.seq))?.event_id).toBe(e.event_id)
  })

  it('a failing op leaves no entry, none of the ops, and the head where it was', async () => {
    const db = memoryDb()
    const blocks = db.sublevel<string, string>('blocks', {})
    // The store refusing one value stands in for any failure of the batch write.
    db.hooks.prewrite.add((op) => {
      if (op.type === 'put' && op.value === 'poison') throw new Error('refused')
    })
    const { log } = await openLog(db)
    await log.append(storeFields(0))
    const before = log.head()
    const failed = log.append(storeFields(1), [
      { type: 'put', sublevel: blocks, key: 'good', value: 'ok' },
      { type: 'put', sublevel: blocks, key: 'bad', value: 'poison' },
    ])
    await expect(failed).rejects.toMatchObject({ code: 'LOG_WRITE_FAILED' })
    expect(log.head()).toEqual(before)
    expect(await log.get(1)).toBeUndefined()
    expect(await blocks.get('good')).toBeUndefined()
    const next = await log.append(storeFields(2))
    expect(next.seq).toBe(1)
    expect(next.prev_event_id).toBe(before.last_event_id)
    expect((await log.verify()).ok).toBe(true)
  })

  it('in a group of concurrent appends, only the failing one fails', async () => {
    const db = memoryDb()
    const blocks = db.sublevel<string, string>('blocks', {})
    db.hooks.prewrite.add((op) => {
      if (op.type === 'put' && op.value === 'poison') throw new Error('refused')
    })
    const { log } = await openLog(db)
    const outcomes = await Promise.allSettled(
      Array.from({ length: 12 }, (_, i) =>
        log.append(storeFields(i), [
          { type: 'put', sublevel: blocks, key: `b${i}`, value: `v${i}` },
          { type: 'put', sublevel: blocks, key: `x${i}`, value: i === 5 ? 'poison' : 'fine' },
        ]),
      ),
    )
    expect(outcomes.map((o) => o.status)).toEqual(
      Array.from({ length: 12 }, (_, i) => (i === 5 ? 'rejected' : 'fulfilled')),
    )
    expect(await blocks.get('b5')).toBeUndefined()
    expect(await blocks.get('b6')).toBe('v6')
    const stored = await collect(log.iterate())
    expect(stored.map((e) => e.timestamp_tick)).toEqual(
      [0, 1, 2, 3, 4, 6, 7, 8, 9, 10, 11].map((i) => 1000 + i),
    )
    expect((await log.verify()).ok).toBe(true)
  })

  it('invalid fields and ops are typed errors and write nothing', async () => {
    const { log } = await openLog()
    await expect(log.append({ ...storeFields(0), event_type: 'NOPE' as 'STORE' })).rejects.toMatchObject({
      code: 'INVALID_INPUT',
    })
    await expect(log.append(storeFields(0), [{ type: 'merge' } as never])).rejects.toMatchObject({
      code: 'INVALID_INPUT',
    })
    const events = (log as unknown as { events: unknown }).events
    await expect(
      log.append(storeFields(0), [{ type: 'put', sublevel: events, key: seqKey(9), value: '{}' } as never]),
    ).rejects.toMatchObject({ code: 'INVALID_INPUT' })
    expect(log.head().entries).toBe(0)
  })
})

describe('EventLog checkpoints', () => {
  it('signs after checkpointEvery entries and after the quiet delay, without flush', async () => {
    const { log } = await openLog(memoryDb(), { checkpointEvery: 4 })
    for (let i = 0; i < 9; i++) await log.append(storeFields(i))
    await vi.waitFor(() => expect(log.head().covered_entries).toBe(8), WAIT)
    const quick = await openLog(memoryDb(), { checkpointEvery: 100, checkpointDelayMs: 10 })
    for (let i = 0; i < 3; i++) await quick.log.append(storeFields(i))
    await vi.waitFor(() => expect(quick.log.head().covered_entries).toBe(3), WAIT)
    await log.close()
    await quick.log.close()
  })

  it('flush covers everything; checkpoints chain and batches are contiguous', async () => {
    const { log } = await openLog(memoryDb(), { checkpointEvery: 4 })
    for (let i = 0; i < 10; i++) await log.append(storeFields(i))
    await log.flush()
    const cps = await collect(log.checkpoints())
    expect(cps.map((c) => [c.checkpoint_seq, c.first_seq, c.last_seq])).toEqual([
      [0, 0, 3],
      [1, 4, 7],
      [2, 8, 9],
    ])
    expect(cps[0]!.prev_checkpoint_id).toBe(ZERO_ID)
    expect(cps[1]!.prev_checkpoint_id).toBe(cps[0]!.checkpoint_id)
    expect(cps[2]!.head_event_id).toBe((await log.get(9))!.event_id)
    expect(log.head()).toMatchObject({ entries: 10, covered_entries: 10, checkpoints: 3 })
  })

  it('flush and verify return while appends keep arriving, and cover what came before them', async () => {
    const { log } = await openLog(memoryDb(), { checkpointEvery: 64, checkpointDelayMs: 20 })
    // Far above what the workers append before verify returns (a few thousand), far below forever.
    const SAFETY = 50_000
    let n = 0
    let stop = false
    const flushed = deferred<{ before: number; after: number; covered: number }>()
    const verified = deferred<{ after: number; ok: boolean; entries: number }>()
    const workers = Array.from({ length: 4 }, async () => {
      while (!stop && n < SAFETY) {
        // memory-level resolves in microtasks, so the calls are made from inside the load itself.
        if (n === 100) {
          const before = log.head().entries
          void log
            .flush()
            .then(() => flushed.resolve({ before, after: n, covered: log.head().covered_entries }))
        }
        if (n === 200) {
          void log.verify().then((v) => {
            verified.resolve({ after: n, ok: v.ok, entries: v.entries })
            stop = true
          })
        }
        await log.append(storeFields(n++))
      }
    })
    const f = await flushed.promise
    const v = await verified.promise
    await Promise.all(workers)
    // Had flush or verify waited for the writer to go idle, they would only return once the workers hit SAFETY.
    expect(f.after).toBeLessThan(SAFETY)
    expect(f.covered).toBeGreaterThanOrEqual(f.before)
    expect(v.after).toBeLessThan(SAFETY)
    expect(v.ok).toBe(true)
    expect(v.entries).toBeGreaterThanOrEqual(200)
    await log.flush()
    expect(await log.verify()).toMatchObject({ ok: true, entries: log.head().entries })
  })

  it('a crash before the checkpoint: a new EventLog on the same db covers the tail when it opens', async () => {
    const db = memoryDb()
    const crashed = new EventLog({ db, nodeId: NODE, key: TEST_KEY }, { checkpointEvery: 4, ...QUIET })
    await crashed.open()
    for (let i = 0; i < 10; i++) await crashed.append(storeFields(i))
    await vi.waitFor(() => expect(crashed.head().covered_entries).toBe(8), WAIT)
    // `crashed` is abandoned here without flush or close, as a killed process would leave it.
    const reopened = new EventLog({ db, nodeId: NODE, key: TEST_KEY }, { checkpointEvery: 4, ...QUIET })
    await reopened.open()
    expect(reopened.head()).toMatchObject({ entries: 10, covered_entries: 10, checkpoints: 3 })
    const e = await reopened.append(storeFields(10))
    expect(e.seq).toBe(10)
    expect(e.prev_event_id).toBe((await reopened.get(9))!.event_id)
    expect(await reopened.verify()).toMatchObject({ ok: true, entries: 11, checkpoints: 4 })
  })

  it('a crash with no checkpoint at all is covered on reopen too', async () => {
    const db = memoryDb()
    const crashed = new EventLog({ db, nodeId: NODE, key: TEST_KEY }, { checkpointEvery: 1000, ...QUIET })
    await crashed.open()
    for (let i = 0; i < 5; i++) await crashed.append(storeFields(i))
    expect(crashed.head().covered_entries).toBe(0)
    const { log } = await openLog(db)
    expect(log.head()).toMatchObject({ entries: 5, covered_entries: 5, checkpoints: 1 })
    expect((await log.verify()).ok).toBe(true)
  })

  it('refuses a log of another node or another key, and a tampered uncovered tail', async () => {
    const { db, log } = await openLog(memoryDb(), { checkpointEvery: 2 })
    for (let i = 0; i < 3; i++) await log.append(storeFields(i))
    await log.close()
    const otherNode = new EventLog({ db, nodeId: 'node-b', key: TEST_KEY }, QUIET)
    await expect(otherNode.open()).rejects.toMatchObject({ code: 'LOG_IDENTITY_MISMATCH' })
    const otherKey = new EventLog({ db, nodeId: NODE, key: OTHER_KEY }, QUIET)
    await expect(otherKey.open()).rejects.toMatchObject({ code: 'LOG_IDENTITY_MISMATCH' })

    const db2 = memoryDb()
    const crashed = new EventLog(
      { db: db2, nodeId: NODE, key: TEST_KEY },
      { checkpointEvery: 1000, ...QUIET },
    )
    await crashed.open()
    for (let i = 0; i < 3; i++) await crashed.append(storeFields(i))
    const raw = db2.sublevel<string, string>(LOG_SUBLEVEL, {})
    const e1 = JSON.parse((await raw.get(seqKey(1)))!)
    await raw.put(seqKey(1), JSON.stringify({ ...e1, content_size: 1 }))
    await expect(new EventLog({ db: db2, nodeId: NODE, key: TEST_KEY }, QUIET).open()).rejects.toMatchObject({
      code: 'LOG_CORRUPT',
    })
  })

  it('state errors: append before open and after close', async () => {
    const log = new EventLog({ db: memoryDb(), nodeId: NODE, key: TEST_KEY }, QUIET)
    await expect(log.append(storeFields(0))).rejects.toMatchObject({ code: 'LOG_NOT_OPEN' })
    await log.open()
    await log.close()
    await expect(log.append(storeFields(0))).rejects.toMatchObject({ code: 'LOG_NOT_OPEN' })
    await expect(log.open()).rejects.toMatchObject({ code: 'LOG_NOT_OPEN' })
  })

  it('rejects bad components and options with typed errors', () => {
    const db = memoryDb()
    const make = (c: object, o: object = {}) => {
      try {
        new EventLog({ db, nodeId: NODE, key: TEST_KEY, ...c } as never, o)
        return undefined
      } catch (err) {
        return errCode(err)
      }
    }
    expect(make({ nodeId: '' })).toBe('INVALID_INPUT')
    expect(make({ key: {} })).toBe('INVALID_INPUT')
    expect(make({}, { checkpointEvery: 0 })).toBe('INVALID_INPUT')
    expect(make({}, { checkpointDelayMs: 1.5 })).toBe('INVALID_INPUT')
  })
})
