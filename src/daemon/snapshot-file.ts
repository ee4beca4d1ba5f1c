import { mkdir, readdir, readFile, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { InvalidInputError, oneLine } from '../core/errors.js'
import { SnapshotRejectedError, SnapshotUnreadableError } from '../membership/errors.js'
import type { EpochSnapshot } from '../membership/snapshot.js'
import { parseSnapshotHead, type SnapshotHead } from '../membership/snapshot-head.js'
import { dataPaths, readJson, writeAtomic } from './data-dir.js'
import { InvalidDataDirError } from './errors.js'
import { firstDuplicateKey } from './json-duplicates.js'

/**
 * The JSON of a snapshot file, or undefined when there is none; unparsable text, a byte order mark,
 * or an object that gives a key twice, is MALFORMED, and a file that cannot be read (a directory in its place, no
 * permission) is SNAPSHOT_UNREADABLE.
 */
export async function readSnapshotFile(path: string): Promise<unknown | undefined> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'ENOENT') return undefined
    throw new SnapshotUnreadableError(
      `the snapshot file ${path} cannot be read (${code ?? (err as Error).message})`,
      {
        cause: err,
      },
    )
  }
  // The config file skips a byte order mark; a signed file does not. aegis sign never writes one, so
  // one here was added by an editor, and JSON readers differ on it (JSON.parse and Python's json
  // refuse it, others skip it): refused in words that say what to remove, not as "not JSON".
  if (text.startsWith('\uFEFF')) {
    throw new SnapshotRejectedError(
      'MALFORMED',
      `${path} begins with a byte order mark (U+FEFF); a snapshot file is its JSON alone, save it without the mark`,
    )
  }
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch (err) {
    throw new SnapshotRejectedError('MALFORMED', `${path} is not JSON`, { cause: err })
  }
  // JSON.parse keeps the last of two equal keys, other readers the first: one signed file would
  // then hold two snapshots (`"epoch":99, ..., "epoch":0`), and which one is checked depends on who reads.
  const twice = firstDuplicateKey(text)
  if (twice !== undefined) {
    throw new SnapshotRejectedError('MALFORMED', `${path} gives ${oneLine(twice)} twice in one object`)
  }
  return value
}

export async function writeSnapshotFile(path: string, snapshot: EpochSnapshot): Promise<void> {
  await writeAtomic(path, `${JSON.stringify(snapshot, null, 2)}\n`, 0o644)
}

/**
 * `D/snapshot-head.json`, the last snapshot the node adopted; undefined in a directory that never
 * adopted one (or one made by a version that kept none). A damaged file is `INVALID_DATA_DIR`.
 */
export async function readSnapshotHead(dir: string): Promise<SnapshotHead | undefined> {
  const path = dataPaths(dir).snapshotHead
  const value = await readJson(path)
  if (value === undefined) return undefined
  try {
    return parseSnapshotHead(value)
  } catch (err) {
    if (!(err instanceof InvalidInputError)) throw err
    throw new InvalidDataDirError(
      `${path} is not a snapshot head (${err.message}); remove it to adopt the snapshot file as a new anchor`,
      { cause: err },
    )
  }
}

/** Written before the snapshot is adopted, atomically: a crash leaves the old head or the new one. */
export async function writeSnapshotHead(dir: string, head: SnapshotHead): Promise<void> {
  await writeAtomic(dataPaths(dir).snapshotHead, `${JSON.stringify(head, null, 2)}\n`, 0o644)
}

const HISTORY_FILE = /^epoch-(0|[1-9][0-9]{0,15})\.json$/
/**
 * The largest saved snapshot read back: far above a snapshot of thousands of nodes (about 4 KiB
 * each, the ML-DSA key as hex), so only a file that is no snapshot is refused unread.
 */
const MAX_HISTORY_FILE_BYTES = 64 * 1024 * 1024

/** Where the snapshot of `epoch` is saved: `D/snapshots/epoch-<n>.json`. */
export function savedSnapshotPath(dir: string, epoch: number): string {
  return join(dataPaths(dir).snapshotHistory, `epoch-${epoch}.json`)
}

/** Saves an adopted snapshot as `D/snapshots/epoch-<n>.json` (atomically), beside the head. */
export async function writeSnapshotHistory(dir: string, snapshot: EpochSnapshot): Promise<void> {
  await mkdir(dataPaths(dir).snapshotHistory, { recursive: true, mode: 0o755 })
  await writeSnapshotFile(savedSnapshotPath(dir, snapshot.epoch), snapshot)
}

/**
 * The saved snapshots of epochs before `beforeEpoch`, newest first, unread (the caller reads them
 * one by one with readSavedSnapshot, and stops where the chain does). Files with other names are not
 * the node's and are left alone.
 */
export async function listSnapshotHistory(
  dir: string,
  beforeEpoch: number,
): Promise<Array<{ epoch: number; path: string }>> {
  const history = dataPaths(dir).snapshotHistory
  let names: string[]
  try {
    names = await readdir(history)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return []
    throw err
  }
  return names
    .map((name) => ({ name, m: HISTORY_FILE.exec(name) }))
    .filter((e): e is { name: string; m: RegExpExecArray } => e.m !== null)
    .map((e) => ({ epoch: Number(e.m[1]), path: join(history, e.name) }))
    .filter((e) => Number.isSafeInteger(e.epoch) && e.epoch < beforeEpoch)
    .sort((a, b) => b.epoch - a.epoch)
}

/**
 * The JSON of a saved snapshot (undefined if it is gone). Only a regular file of a snapshot's size
 * is read: a FIFO would wait for a writer for ever.
 */
export async function readSavedSnapshot(path: string): Promise<unknown | undefined> {
  let info: Awaited<ReturnType<typeof stat>>
  try {
    info = await stat(path)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw new SnapshotUnreadableError(`${path} cannot be read (${(err as NodeJS.ErrnoException).code})`, {
      cause: err,
    })
  }
  if (!info.isFile()) throw new SnapshotUnreadableError(`${path} is not a regular file`)
  if (info.size > MAX_HISTORY_FILE_BYTES)
    throw new SnapshotUnreadableError(`${path} is ${info.size} bytes, more than a snapshot holds`)
  return readSnapshotFile(path)
}
