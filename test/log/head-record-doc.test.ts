import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { reportError } from '../../src/cli/io.js'
import { LogHeadUnreadableError, LogRolledBackError } from '../../src/log/errors.js'
import { LOG_SUBLEVEL, seqKey } from '../../src/log/log-store.js'
import { memoryDb, storeFields } from './fixtures.js'
import { logRecordingAt, tempDirs } from './head-fixtures.js'

/**
 * docs/operations.md on D/log-head.json, sentence by sentence where the other tests leave one
 * unpinned: the record is absent until the first checkpoint, the check covers only what a checkpoint
 * covers, and both refusals exit 3.
 */

const newDir = tempDirs('qfs-log-head-doc-')
const logOn = logRecordingAt

const operations = readFile(new URL('../../docs/operations.md', import.meta.url), 'utf8')

describe('docs/operations.md on D/log-head.json', () => {
  it('"absent until the node signs its first": a log opened and closed with no entry leaves none', async () => {
    const dir = await newDir()
    const path = join(dir, 'log-head.json')
    const db = memoryDb()
    const empty = logOn(db, path)
    await empty.open()
    await empty.close()
    expect(await readdir(dir)).toEqual([])
    const log = logOn(db, path)
    await log.open()
    await log.append(storeFields(0))
    await log.close()
    expect(await readdir(dir)).toEqual(['log-head.json'])
  })

  it('"the check covers what a checkpoint covers": a lost tail no checkpoint covered yet opens', async () => {
    const path = join(await newDir(), 'log-head.json')
    const db = memoryDb()
    const log = logOn(db, path)
    await log.open()
    for (let i = 0; i < 4; i++) await log.append(storeFields(i))
    await log.flush()
    const recorded = JSON.parse(await readFile(path, 'utf8'))
    expect(recorded).toMatchObject({ checkpoint_seq: 1, last_seq: 3 })
    // One more entry, within the quiet delay: no checkpoint covers it when the database loses it.
    await log.append(storeFields(4))
    await db.sublevel<string, string>(LOG_SUBLEVEL, {}).del(seqKey(4))

    const reopened = logOn(db, path)
    await reopened.open()
    expect(reopened.head()).toMatchObject({
      entries: 4,
      checkpoints: 2,
      last_checkpoint_id: recorded.checkpoint_id,
    })
    await reopened.close()
  })

  it('LOG_ROLLED_BACK and LOG_HEAD_UNREADABLE exit with the status the codes table gives them', async () => {
    const row = (await operations).split('\n').find((l) => l.startsWith('| `LOG_ROLLED_BACK`'))
    expect(row).toBeDefined()
    const [, codes, status] = row!.split('|').map((c) => c.trim())
    expect(codes).toBe('`LOG_ROLLED_BACK`, `LOG_HEAD_UNREADABLE`')
    const io = { stdout: () => {}, stderr: () => {}, isTty: false }
    for (const err of [new LogRolledBackError('cut'), new LogHeadUnreadableError('unreadable')]) {
      expect(reportError(io, err)).toBe(Number(status))
    }
  })
})
