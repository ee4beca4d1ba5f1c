import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import fc from 'fast-check'
import { afterAll, describe, expect, it } from 'vitest'
import { CheckpointSigner } from '../../src/log/checkpoint-signer.js'
import { EventLog } from '../../src/log/event-log.js'
import { fileLogHeadRecord, type LogHeadRecord, type RecordedHead } from '../../src/log/head-record.js'
import { CHECKPOINT_SUBLEVEL, LOG_SUBLEVEL, seqKey } from '../../src/log/log-store.js'
import { memoryDb, NODE, storeFields, TEST_KEY } from './fixtures.js'

/**
 * A log records the checkpoint it signed last outside its database (D/log-head.json), and opening
 * refuses a log that no longer holds it: the case docs/audit-log.md said no verdict can show, a
 * database that lost its tail and verifies on its own. The oracle is the checkpoint sublevel itself,
 * read apart from the log.
 */

const dirs: string[] = []
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true })
})
async function headPath(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'qfs-log-head-'))
  dirs.push(dir)
  return join(dir, 'log-head.json')
}

const QUIET = { checkpointDelayMs: 3_600_000, checkpointEvery: 2 }

async function openLog(db: ReturnType<typeof memoryDb>, headRecord: LogHeadRecord | undefined) {
  const log = new EventLog({ db, nodeId: NODE, key: TEST_KEY, headRecord }, QUIET)
  await log.open()
  return log
}

/** The last checkpoint as stored, read from the sublevel, not from the log. */
async function storedLast(db: ReturnType<typeof memoryDb>) {
  const ckpts = db.sublevel<string, string>(CHECKPOINT_SUBLEVEL, {})
  const [[, value]] = (await ckpts.iterator({ reverse: true, limit: 1 }).all()) as [[string, string]]
  return JSON.parse(value) as {
    checkpoint_seq: number
    last_seq: number
    first_seq: number
    checkpoint_id: string
  }
}

/** Removes the newest checkpoint and the entries it covers, as a lost database tail does. */
async function cutLast(db: ReturnType<typeof memoryDb>) {
  const last = await storedLast(db)
  const events = db.sublevel<string, string>(LOG_SUBLEVEL, {})
  const ckpts = db.sublevel<string, string>(CHECKPOINT_SUBLEVEL, {})
  for (let s = last.first_seq; s <= last.last_seq; s++) await events.del(seqKey(s))
  await ckpts.del(seqKey(last.last_seq))
  return last
}

async function written(n: number, path: string) {
  const db = memoryDb()
  const log = await openLog(db, fileLogHeadRecord(path, NODE))
  for (let i = 0; i < n; i++) await log.append(storeFields(i))
  await log.close()
  return db
}

describe('the recorded log head', () => {
  it('is the last checkpoint stored, after every run that signs one', async () => {
    const path = await headPath()
    const db = await written(5, path)
    const last = await storedLast(db)
    expect(last.checkpoint_seq).toBe(2) // [0,1] [2,3] [4]
    expect(JSON.parse(await readFile(path, 'utf8'))).toEqual({
      schema: 'qfs-log-head/1',
      node_id: NODE,
      checkpoint_seq: last.checkpoint_seq,
      last_seq: last.last_seq,
      checkpoint_id: last.checkpoint_id,
    })
    // A log that goes on moves it on.
    const log = await openLog(db, fileLogHeadRecord(path, NODE))
    await log.append(storeFields(5))
    await log.flush()
    expect(JSON.parse(await readFile(path, 'utf8')).checkpoint_id).toBe((await storedLast(db)).checkpoint_id)
    await log.close()
  })

  it('lets a log open that still holds it, and one with no record yet (a node from before it), which then gets one', async () => {
    const path = await headPath()
    const db = await written(4, path)
    await (await openLog(db, fileLogHeadRecord(path, NODE))).close()
    const older = await headPath()
    const log = await openLog(db, fileLogHeadRecord(older, NODE))
    expect(JSON.parse(await readFile(older, 'utf8')).checkpoint_id).toBe((await storedLast(db)).checkpoint_id)
    await log.close()
  })

  it('refuses a log cut below it with LOG_ROLLED_BACK, naming the checkpoint and the file', async () => {
    const path = await headPath()
    const db = await written(6, path)
    const lost = await cutLast(db)
    const refused = openLog(db, fileLogHeadRecord(path, NODE))
    await expect(refused).rejects.toMatchObject({ code: 'LOG_ROLLED_BACK' })
    await expect(refused).rejects.toThrow(
      new RegExp(
        `ends at checkpoint ${lost.checkpoint_seq - 1} .*signed checkpoint ${lost.checkpoint_seq} .*${path}`,
      ),
    )
    // Nothing was written: the same log, opened without the record, is the cut one as it was.
    expect((await storedLast(db)).checkpoint_seq).toBe(lost.checkpoint_seq - 1)
  })

  it('refuses a log that regrew past it on another chain, and one that holds nothing', async () => {
    const path = await headPath()
    const db = await written(4, path)
    const lost = await cutLast(db)
    // Written on without the record (as after its removal elsewhere), past the old count.
    const log = await openLog(db, undefined)
    for (let i = 10; i < 14; i++) await log.append(storeFields(i))
    await log.close()
    expect((await storedLast(db)).checkpoint_seq).toBeGreaterThan(lost.checkpoint_seq)
    await expect(openLog(db, fileLogHeadRecord(path, NODE))).rejects.toThrow(/on another chain/)

    const empty = memoryDb()
    await expect(openLog(empty, fileLogHeadRecord(path, NODE))).rejects.toMatchObject({
      code: 'LOG_ROLLED_BACK',
      message: expect.stringMatching(/^the audit log holds no checkpoint/),
    })
  })

  it('refuses a record it cannot read with LOG_HEAD_UNREADABLE, and another node`s with LOG_IDENTITY_MISMATCH', async () => {
    const path = await headPath()
    const db = await written(2, path)
    const good = JSON.parse(await readFile(path, 'utf8'))
    const variants: Array<[string, unknown]> = [
      ['not JSON', '{'],
      ['an array', []],
      ['another schema', { ...good, schema: 'qfs-log-head/2' }],
      ['an extra field', { ...good, note: 1 }],
      ['a missing field', { ...good, last_seq: undefined }],
      ['a negative seq', { ...good, checkpoint_seq: -1 }],
      ['a fractional seq', { ...good, last_seq: 0.5 }],
      ['last_seq below checkpoint_seq', { ...good, checkpoint_seq: good.last_seq + 1 }],
      ['an upper-case id', { ...good, checkpoint_id: good.checkpoint_id.toUpperCase() }],
      ['a short id', { ...good, checkpoint_id: good.checkpoint_id.slice(2) }],
    ]
    for (const [what, content] of variants) {
      await writeFile(path, typeof content === 'string' ? content : JSON.stringify(content))
      await expect(openLog(db, fileLogHeadRecord(path, NODE)), what).rejects.toMatchObject({
        code: 'LOG_HEAD_UNREADABLE',
      })
    }
    await writeFile(path, 'x'.repeat(5000))
    await expect(openLog(db, fileLogHeadRecord(path, NODE))).rejects.toThrow(/over 4096/)
    await rm(path)
    await mkdir(path)
    await expect(openLog(db, fileLogHeadRecord(path, NODE))).rejects.toMatchObject({
      code: 'LOG_HEAD_UNREADABLE',
    })
    await rm(path, { recursive: true })
    await writeFile(path, JSON.stringify({ ...good, node_id: 'node-9' }))
    await expect(openLog(db, fileLogHeadRecord(path, NODE))).rejects.toMatchObject({
      code: 'LOG_IDENTITY_MISMATCH',
    })
    // Put right, the log opens as before.
    await writeFile(path, JSON.stringify(good))
    await (await openLog(db, fileLogHeadRecord(path, NODE))).close()
  })

  it('never crashes on any content of the file: it opens or refuses with a code', async () => {
    const path = await headPath()
    const db = await written(2, path)
    const good = JSON.parse(await readFile(path, 'utf8'))
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.string(),
          fc.jsonValue().map((v) => JSON.stringify(v)),
          fc
            .record({ checkpoint_seq: fc.integer(), last_seq: fc.integer(), checkpoint_id: fc.string() })
            .map((r) => JSON.stringify({ ...good, ...r })),
        ),
        async (text) => {
          await writeFile(path, text)
          const outcome = await openLog(db, fileLogHeadRecord(path, NODE)).then(
            async (log) => {
              await log.close()
              return 'opened'
            },
            (err: { code?: string }) => err.code,
          )
          expect(['opened', 'LOG_HEAD_UNREADABLE', 'LOG_ROLLED_BACK', 'LOG_IDENTITY_MISMATCH']).toContain(
            outcome,
          )
        },
      ),
      { numRuns: 60 },
    )
  })

  it('fails the checkpoint run with LOG_WRITE_FAILED when the record cannot be written', async () => {
    const path = join(await headPath(), 'missing-dir', 'log-head.json')
    const db = memoryDb()
    await expect(openLog(db, fileLogHeadRecord(path, NODE))).resolves.toBeDefined()
    const log = new EventLog(
      { db, nodeId: NODE, key: TEST_KEY, headRecord: fileLogHeadRecord(path, NODE) },
      QUIET,
    )
    await log.open()
    await log.append(storeFields(0))
    await log.append(storeFields(1))
    await expect(log.flush()).rejects.toMatchObject({ code: 'LOG_WRITE_FAILED' })
  })
})

describe('CheckpointSigner with a head record', () => {
  /** A checkpoint store that notes each put's options, and a record that notes what was stored when it was told. */
  function fakes() {
    const puts: Array<{ key: string; sync: unknown }> = []
    const ckpts = {
      put: async (key: string, _value: string, options?: { sync?: unknown }) => {
        puts.push({ key, sync: options?.sync })
      },
    }
    const recorded: Array<{ head: RecordedHead; putsBefore: number }> = []
    const headRecord: LogHeadRecord = {
      where: 'test',
      read: async () => undefined,
      write: async (head) => {
        recorded.push({ head, putsBefore: puts.length })
      },
    }
    return { puts, ckpts, recorded, headRecord }
  }

  it('syncs the run`s last checkpoint, then records it; one record per run', async () => {
    for (const sync of [true, false]) {
      const { puts, ckpts, recorded, headRecord } = fakes()
      let end = 0
      const signer = new CheckpointSigner({
        // biome-ignore lint/suspicious/noExplicitAny: a fake with only the put the signer uses.
        ckpts: ckpts as any,
        nodeId: NODE,
        key: TEST_KEY,
        every: 2,
        delayMs: 3_600_000,
        committedEnd: () => end,
        headRecord,
        sync,
      })
      const ids = ['11', '22', '33', '44', '55'].map((b) => b.repeat(32))
      for (const id of ids) {
        signer.committed(id)
        end++
      }
      await signer.run(true)
      signer.stop()
      expect(signer.takeError()).toBe(null)
      expect(puts.map((p) => [p.key, p.sync])).toEqual([
        [seqKey(1), false],
        [seqKey(3), false],
        [seqKey(4), sync],
      ])
      expect(recorded).toHaveLength(1)
      expect(recorded[0]!.putsBefore).toBe(3)
      expect(recorded[0]!.head).toMatchObject({ checkpoint_seq: 2, last_seq: 4 })
      expect(recorded[0]!.head.checkpoint_id).toBe(signer.coverage.lastCheckpointId)
      // A run with nothing to sign records nothing.
      await signer.run(true)
      expect(recorded).toHaveLength(1)
    }
  })
})

describe('EventLog.open and the record', () => {
  /** The file's record, with its writes counted. */
  function counted(path: string) {
    const file = fileLogHeadRecord(path, NODE)
    const writes: RecordedHead[] = []
    const record: LogHeadRecord = {
      where: file.where,
      read: () => file.read(),
      write: async (head) => {
        writes.push(head)
        await file.write(head)
      },
    }
    return { record, writes }
  }

  it('records once per open: what it signed, or the last checkpoint when the record lacks it, or nothing when current', async () => {
    const path = await headPath()
    const db = memoryDb()
    // An uncovered tail (a crash before its checkpoint): open signs it and records that, once.
    const first = new EventLog({ db, nodeId: NODE, key: TEST_KEY }, { ...QUIET, checkpointEvery: 100 })
    await first.open()
    for (let i = 0; i < 3; i++) await first.append(storeFields(i))
    const tail = counted(path)
    const signing = await openLog(db, tail.record)
    expect(tail.writes).toHaveLength(1)
    expect(tail.writes[0]!.checkpoint_id).toBe((await storedLast(db)).checkpoint_id)
    await signing.close()

    // Fully covered and recorded: nothing to write.
    const current = counted(path)
    await (await openLog(db, current.record)).close()
    expect(current.writes).toHaveLength(0)

    // Fully covered, no record (a node from before it): the last checkpoint, once.
    await rm(path)
    const missing = counted(path)
    await (await openLog(db, missing.record)).close()
    expect(missing.writes.map((h) => h.checkpoint_id)).toEqual([(await storedLast(db)).checkpoint_id])
  })
})
