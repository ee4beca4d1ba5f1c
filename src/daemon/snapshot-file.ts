import { readFile } from 'node:fs/promises'
import { SnapshotRejectedError } from '../membership/errors.js'
import type { EpochSnapshot } from '../membership/snapshot.js'
import { writeAtomic } from './data-dir.js'

/** The JSON of a snapshot file, or undefined when there is none; unparsable text is MALFORMED. */
export async function readSnapshotFile(path: string): Promise<unknown | undefined> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw err
  }
  try {
    return JSON.parse(text)
  } catch (err) {
    throw new SnapshotRejectedError('MALFORMED', `${path} is not JSON`, { cause: err })
  }
}

export async function writeSnapshotFile(path: string, snapshot: EpochSnapshot): Promise<void> {
  await writeAtomic(path, `${JSON.stringify(snapshot, null, 2)}\n`, 0o644)
}
