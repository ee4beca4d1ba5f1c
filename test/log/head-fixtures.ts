import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll } from 'vitest'
import { EventLog } from '../../src/log/event-log.js'
import { fileLogHeadRecord } from '../../src/log/head-record.js'
import { type memoryDb, NODE, TEST_KEY } from './fixtures.js'

/** The tests of D/log-head.json: a log that signs every 2 entries and never on a timer. */
export const HEAD_QUIET = { checkpointDelayMs: 3_600_000, checkpointEvery: 2 }

/** A log on `db` whose head is recorded in the file at `path` (not opened). */
export function logRecordingAt(db: ReturnType<typeof memoryDb>, path: string): EventLog {
  return new EventLog(
    { db, nodeId: NODE, key: TEST_KEY, headRecord: fileLogHeadRecord(path, NODE) },
    HEAD_QUIET,
  )
}

export async function openLogRecordingAt(db: ReturnType<typeof memoryDb>, path: string): Promise<EventLog> {
  const log = logRecordingAt(db, path)
  await log.open()
  return log
}

/** New temporary directories named `prefix…` for one test file, removed after it. */
export function tempDirs(prefix: string): () => Promise<string> {
  const dirs: string[] = []
  afterAll(async () => {
    for (const d of dirs) await rm(d, { recursive: true, force: true })
  })
  return async () => {
    const dir = await mkdtemp(join(tmpdir(), prefix))
    dirs.push(dir)
    return dir
  }
}
