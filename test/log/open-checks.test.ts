import { describe, expect, it, vi } from 'vitest'
import { computeEventId, type StorageEvent } from '../../src/log/event.js'
import { EventLog } from '../../src/log/event-log.js'
import { CHECKPOINT_SUBLEVEL, LOG_SUBLEVEL, seqKey } from '../../src/log/log-store.js'
import { collect, memoryDb, NODE, storeFields, TEST_KEY } from './fixtures.js'

/**
 * What EventLog.open refuses to vouch for before it signs the uncovered tail, what close signs, and
 * what reads of a damaged store answer. Each case edits the stored JSON directly, as a broken disk or
 * someone with the database would.
 */

const QUIET = { checkpointDelayMs: 3_600_000 }

/** A log of `n` entries left as a crash leaves it: `every` decides what is covered. */
async function written(n: number, every: number) {
  const db = memoryDb()
  const log = new EventLog({ db, nodeId: NODE, key: TEST_KEY }, { ...QUIET, checkpointEvery: every })
  await log.open()
  for (let i = 0; i < n; i++) await log.append(storeFields(i))
  if (every <= n) await log.flush()
  const raw = db.sublevel<string, string>(LOG_SUBLEVEL, {})
  const ckpts = db.sublevel<string, string>(CHECKPOINT_SUBLEVEL, {})
  return { db, log, raw, ckpts }
}

async function editEntry(
  raw: { get(k: string): Promise<string | undefined>; put(k: string, v: string): Promise<void> },
  seq: number,
  edit: (e: StorageEvent) => void,
) {
  const e = JSON.parse((await raw.get(seqKey(seq)))!) as StorageEvent
  edit(e)
  await raw.put(seqKey(seq), JSON.stringify(e))
}

const reopen = (db: ReturnType<typeof memoryDb>) =>
  new EventLog({ db, nodeId: NODE, key: TEST_KEY }, { ...QUIET, checkpointEvery: 1000 }).open()

describe('EventLog.open on a damaged store', () => {
  it('refuses a log whose last checkpoint head is gone', async () => {
    // Checkpoints [0..1] [2..3]; the entry the last one ends at is deleted.
    const { db, raw } = await written(4, 2)
    await raw.del(seqKey(3))
    await expect(reopen(db)).rejects.toMatchObject({
      code: 'LOG_CORRUPT',
      message: 'checkpoint 1 head is missing',
    })
  })

  it('refuses an uncovered entry re-hashed after a change (the next entry no longer links to it)', async () => {
    const { db, raw } = await written(3, 1000)
    await editEntry(raw, 1, (e) => {
      e.content_size = 1
      e.event_id = computeEventId(e)
    })
    await expect(reopen(db)).rejects.toMatchObject({
      code: 'LOG_CORRUPT',
      message: 'uncovered entry 2 does not hash or link',
    })
  })

  it('refuses an uncovered entry of another node, though it hashes and links', async () => {
    const { db, raw } = await written(3, 1000)
    await editEntry(raw, 2, (e) => {
      e.node_id = 'node-b'
      e.event_id = computeEventId(e)
    })
    await expect(reopen(db)).rejects.toMatchObject({
      code: 'LOG_IDENTITY_MISMATCH',
      message: 'log belongs to node node-b',
    })
  })
})

describe('EventLog.open resumes from the last checkpoint', () => {
  it('a log reopened with another checkpointEvery keeps its checkpoints and signs only the tail', async () => {
    // Checkpoints [0..3] [4..7] [8..9], then two uncovered entries.
    const { db, log } = await written(10, 4)
    await log.append(storeFields(10))
    await log.append(storeFields(11))
    const wide = new EventLog({ db, nodeId: NODE, key: TEST_KEY }, { ...QUIET, checkpointEvery: 1000 })
    await wide.open()
    expect(wide.head()).toMatchObject({ entries: 12, covered_entries: 12, checkpoints: 4 })
    const cps = await collect(wide.checkpoints())
    expect(cps.map((c) => [c.checkpoint_seq, c.first_seq, c.last_seq])).toEqual([
      [0, 0, 3],
      [1, 4, 7],
      [2, 8, 9],
      [3, 10, 11],
    ])
    expect(await wide.verify()).toMatchObject({ ok: true, entries: 12, checkpoints: 4 })
  })
})

describe('EventLog close and reads', () => {
  it('signs once exactly checkpointEvery entries wait, without flush or timer', async () => {
    const four = new EventLog(
      { db: memoryDb(), nodeId: NODE, key: TEST_KEY },
      { ...QUIET, checkpointEvery: 4 },
    )
    await four.open()
    for (let i = 0; i < 4; i++) await four.append(storeFields(i))
    await vi.waitFor(() => expect(four.head().covered_entries).toBe(4), { timeout: 10_000, interval: 5 })
    await four.close()
  })

  it('close signs the uncovered tail', async () => {
    const { log } = await written(3, 1000)
    expect(log.head().covered_entries).toBe(0)
    await log.close()
    expect(log.head()).toMatchObject({ entries: 3, covered_entries: 3, checkpoints: 1 })
  })

  it('an entry stored under another seq key is LOG_CORRUPT when read', async () => {
    const { log, raw } = await written(3, 1000)
    await raw.put(seqKey(1), (await raw.get(seqKey(2)))!)
    await expect(log.get(1)).rejects.toMatchObject({ code: 'LOG_CORRUPT' })
    await expect(collect(log.iterate())).rejects.toMatchObject({ code: 'LOG_CORRUPT' })
  })

  it('coverage refuses to answer from a checkpoint that does not cover the entry, or over missing entries', async () => {
    // Checkpoints [0..1] [2..3] [4..5]; the middle one is deleted, then an entry of the last one.
    const { log, raw, ckpts } = await written(6, 2)
    await ckpts.del(seqKey(3))
    await expect(log.coverage(2)).rejects.toMatchObject({ code: 'LOG_CORRUPT' })
    await raw.del(seqKey(4))
    await expect(log.coverage(5)).rejects.toMatchObject({ code: 'LOG_CORRUPT' })
  })

  it('extra ops may write neither the entries nor the checkpoints', async () => {
    const { log } = await written(1, 1000)
    for (const name of ['events', 'ckpts']) {
      const sublevel = (log as unknown as Record<string, unknown>)[name]
      await expect(
        log.append(storeFields(1), [{ type: 'put', sublevel, key: seqKey(9), value: '{}' } as never]),
        name,
      ).rejects.toMatchObject({ code: 'INVALID_INPUT' })
    }
    expect(log.head().entries).toBe(1)
  })

  it('verify before open is LOG_NOT_OPEN', async () => {
    const log = new EventLog({ db: memoryDb(), nodeId: NODE, key: TEST_KEY }, QUIET)
    await expect(log.verify()).rejects.toMatchObject({ code: 'LOG_NOT_OPEN' })
  })

  it('refuses a checkpoint delay past what a timer can hold', () => {
    const make = (ms: number) => () =>
      new EventLog({ db: memoryDb(), nodeId: NODE, key: TEST_KEY }, { checkpointDelayMs: ms })
    expect(make(2 ** 31 - 1)).not.toThrow()
    expect(make(2 ** 31)).toThrow(expect.objectContaining({ code: 'INVALID_INPUT' }))
  })
})
