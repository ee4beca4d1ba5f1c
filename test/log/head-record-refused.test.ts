import { join } from 'node:path'
import { describe, expect, it, vi } from 'vitest'
import { memoryDb, storeFields } from './fixtures.js'
import { openLogRecordingAt, tempDirs } from './head-fixtures.js'

/**
 * The system refusing D/log-head.json (its permissions after a copy as another user, too many open
 * files) is no damage to it: docs/operations.md promises such refusals at start say so and advise
 * lifting the limit, not giving the file up. Tests run as root here, where no mode refuses a read, so
 * the refusal is stood in for: `open` of a path named `refused/log-head.json` fails with the errno.
 */
let refusal: string | undefined
vi.mock('node:fs/promises', async (importOriginal) => {
  const real = await importOriginal<typeof import('node:fs/promises')>()
  return {
    ...real,
    open: (async (path: unknown, ...rest: unknown[]) => {
      if (refusal !== undefined && String(path).endsWith(join('refused', 'log-head.json'))) {
        const errno = { EACCES: -13, EMFILE: -24 }[refusal]
        throw Object.assign(new Error(`${refusal}: refused, open '${String(path)}'`), {
          code: refusal,
          errno,
        })
      }
      return (real.open as (...a: unknown[]) => unknown)(path, ...rest)
    }) as typeof real.open,
  }
})

const newDir = tempDirs('qfs-log-head-refused-')
const openLog = openLogRecordingAt

describe('D/log-head.json refused by the system', () => {
  it('is LOG_HEAD_UNREADABLE naming the refusal and advising to lift it, not to remove or restore the file', async () => {
    const dir = await newDir()
    const path = join(dir, 'refused', 'log-head.json')
    await (await import('node:fs/promises')).mkdir(join(dir, 'refused'))
    const db = memoryDb()
    const log = await openLog(db, path)
    await log.append(storeFields(0))
    await log.close()
    for (const code of ['EACCES', 'EMFILE']) {
      refusal = code
      const opened = openLog(db, path)
      await expect(opened).rejects.toMatchObject({ code: 'LOG_HEAD_UNREADABLE' })
      const { message } = (await opened.catch((err: Error) => err)) as Error
      expect(message).toContain(code)
      expect(message).toMatch(/the system refused it/)
      expect(message).toMatch(/lift/)
      expect(message).not.toMatch(/remove it|restore it/)
    }
    refusal = undefined
    await (await openLog(db, path)).close()
  })
})
