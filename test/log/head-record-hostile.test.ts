import { execFileSync } from 'node:child_process'
import { readFile, rm, symlink, truncate, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { memoryDb, storeFields } from './fixtures.js'
import { openLogRecordingAt, tempDirs } from './head-fixtures.js'

/**
 * What sits at D/log-head.json is read at every start, so anything there must end in a coded refusal
 * at once, never a hang or a read of the whole of it.
 */

const newDir = tempDirs('qfs-log-head-hostile-')
const openLog = openLogRecordingAt

async function written(path: string) {
  const db = memoryDb()
  const log = await openLog(db, path)
  for (let i = 0; i < 2; i++) await log.append(storeFields(i))
  await log.close()
  return db
}

describe('hostile content at D/log-head.json', () => {
  it('a huge file is refused by its size, without reading it', async () => {
    const path = join(await newDir(), 'log-head.json')
    const db = await written(path)
    // Sparse: 3 GiB on the books, nothing on the disk. Reading it would need 3 GiB of memory (Node
    // refuses a readFile over 2 GiB with a message of its own); its size alone says it is no record.
    await truncate(path, 3 * 1024 ** 3)
    await expect(openLog(db, path)).rejects.toMatchObject({
      code: 'LOG_HEAD_UNREADABLE',
      message: expect.stringContaining('it holds 3221225472 bytes, over 4096'),
    })
  })

  it('a FIFO is refused as not a regular file at once (a plain open would wait for a writer)', async () => {
    const path = join(await newDir(), 'log-head.json')
    const db = await written(path)
    await rm(path)
    execFileSync('mkfifo', [path])
    await expect(openLog(db, path)).rejects.toMatchObject({
      code: 'LOG_HEAD_UNREADABLE',
      message: expect.stringContaining('is not a regular file'),
    })
  })

  it('a symlink to a record is read through; one to a device is refused', async () => {
    const dir = await newDir()
    const path = join(dir, 'log-head.json')
    const db = await written(path)
    const target = join(dir, 'elsewhere.json')
    await writeFile(target, await readFile(path))
    await rm(path)
    await symlink(target, path)
    await (await openLog(db, path)).close()
    await rm(path)
    await symlink('/dev/zero', path)
    await expect(openLog(db, path)).rejects.toMatchObject({ code: 'LOG_HEAD_UNREADABLE' })
    // A link to nothing is not taken for a node without a record, which would skip the check.
    await rm(path)
    await symlink(join(dir, 'gone.json'), path)
    await expect(openLog(db, path)).rejects.toMatchObject({
      code: 'LOG_HEAD_UNREADABLE',
      message: expect.stringMatching(/a symbolic link to a file that does not exist/),
    })
  })
})
