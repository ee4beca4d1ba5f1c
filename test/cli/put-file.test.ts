import { appendFile, mkdtemp, rm, truncate, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import type { JsonObject } from '../../src/net/frames.js'
import { bytesOf } from '../engine/suite.js'
import { type StubNode, stubNode } from '../sdk/stub.js'
import { runCli } from './run.js'

/**
 * `put` and the file it reads: a file the operating system refuses is IO_ERROR before any dial, and
 * a file that changes size while it streams says so, not a node's "content is N bytes". The tests
 * run as any user (root reads everything), so the system's refusal and the change are staged through
 * `open`: per path, a refusal, or a real truncation or append once the first bytes were read.
 */

type Staged =
  | { refuse: NodeJS.ErrnoException }
  | { afterFirstRead: (path: string) => Promise<void> }
  | { openInstead: string }
const staged = new Map<string, Staged>()

vi.mock('node:fs/promises', async (importOriginal) => {
  const fs = await importOriginal<typeof import('node:fs/promises')>()
  const open: typeof fs.open = async (path, ...rest) => {
    const plan = staged.get(String(path))
    if (plan !== undefined && 'refuse' in plan) throw plan.refuse
    if (plan !== undefined && 'openInstead' in plan) return fs.open(plan.openInstead, ...rest)
    const handle = await fs.open(path, ...rest)
    if (plan === undefined || !('afterFirstRead' in plan)) return handle
    // The stream reads through the handle's own `read`: change the file once it returned bytes.
    const read = handle.read.bind(handle) as (...args: unknown[]) => Promise<{ bytesRead: number }>
    let changed = false
    Object.assign(handle, {
      read: async (...args: unknown[]) => {
        const result = await read(...args)
        if (!changed && result.bytesRead > 0) {
          changed = true
          await plan.afterFirstRead(String(path))
        }
        return result
      },
    })
    return handle
  }
  return { ...fs, open }
})

const MIB = 1024 * 1024

describe('qfs-node put and its file', () => {
  let stub: StubNode
  let dir: string
  const received: number[] = []

  beforeAll(async () => {
    stub = await stubNode(2300)
    dir = await mkdtemp(join(tmpdir(), 'qfs-cli-put-file-'))
    // What a node answers content of another size than announced (the engine's INVALID_INPUT).
    stub.behaviour.store = (request: JsonObject, bytes: number) => {
      received.push(bytes)
      return {
        ok: false,
        error_code: 'SE_ERR_INVALID_INPUT',
        error_detail: `content is ${bytes} bytes, expected ${String(request.content_size)}`,
        code: 'INVALID_INPUT',
      }
    }
  })
  afterAll(async () => {
    await stub?.close()
    if (dir !== undefined) await rm(dir, { recursive: true, force: true })
  })

  const put = (file: string, ...extra: string[]) =>
    runCli(['put', file, '--node', stub.address, '--namespace', 'n', '--id', 'i', '--version', '1', ...extra])

  it('reports a file the system refuses to open as IO_ERROR (exit 3), with no answer printed', async () => {
    const file = join(dir, 'secret.bin')
    await writeFile(file, 'not for this user\n')
    staged.set(file, {
      refuse: Object.assign(new Error(`EACCES: permission denied, open '${file}'`), {
        code: 'EACCES',
        errno: -13,
        syscall: 'open',
        path: file,
      }),
    })
    for (const extra of [[], ['--text']]) {
      const r = await put(file, ...extra)
      expect(r.status).toBe(3)
      expect(r.stderr).toBe(`error [IO_ERROR]: cannot read ${file}: EACCES (permission denied)\n`)
      // No node was involved: no write answer.
      expect(r.stdout).toBe('')
    }
    expect(received).toEqual([])
  })

  it('says the file changed when it shrinks or grows during the upload, and nothing is written', async () => {
    const shrinking = join(dir, 'shrinking.bin')
    const growing = join(dir, 'growing.bin')
    await writeFile(shrinking, bytesOf('shrinking', 3 * MIB))
    await writeFile(growing, bytesOf('growing', 3 * MIB))
    staged.set(shrinking, { afterFirstRead: (path) => truncate(path, MIB + 17) })
    staged.set(growing, { afterFirstRead: (path) => appendFile(path, bytesOf('more', 5000)) })

    const shrunk = await put(shrinking)
    expect(shrunk.stderr).toBe(
      `error [FILE_CHANGED]: ${shrinking} changed while it was read: it had ${3 * MIB} bytes when put opened it, but ended after ${MIB + 17}\n`,
    )
    expect(shrunk.status).toBe(3)
    expect(shrunk.stdout).toBe('')

    const grown = await put(growing)
    expect(grown.stderr).toBe(
      `error [FILE_CHANGED]: ${growing} changed while it was read: it grew past the ${3 * MIB} bytes it had when put opened it\n`,
    )
    expect(grown.status).toBe(3)
    expect(grown.stdout).toBe('')
    // The uploads stopped before their END: the node never got to answer either.
    expect(received).toEqual([])
  })

  it('refuses what the path names once opened if that is no longer a regular file (replaced after its stat)', async () => {
    const swapped = join(dir, 'swapped.bin')
    await writeFile(swapped, 'a file when put looked at it\n')
    // Between put's stat and its open, the name comes to point at a directory.
    staged.set(swapped, { openInstead: dir })
    received.length = 0
    const r = await put(swapped)
    expect(r.stderr).toBe(`error [INVALID_ARGUMENT]: ${swapped} is not a regular file\n`)
    expect(r.status).toBe(2)
    expect(r.stdout).toBe('')
    expect(received).toEqual([])
  })

  it('notices a change of one byte either way: the last byte cut off, one byte appended', async () => {
    const shorter = join(dir, 'one-shorter.bin')
    const longer = join(dir, 'one-longer.bin')
    await writeFile(shorter, bytesOf('one-shorter', 2 * MIB))
    await writeFile(longer, bytesOf('one-longer', 2 * MIB))
    staged.set(shorter, { afterFirstRead: (path) => truncate(path, 2 * MIB - 1) })
    staged.set(longer, { afterFirstRead: (path) => appendFile(path, Buffer.from([1])) })
    received.length = 0
    const cut = await put(shorter)
    expect(cut.stderr).toBe(
      `error [FILE_CHANGED]: ${shorter} changed while it was read: it had ${2 * MIB} bytes when put opened it, but ended after ${2 * MIB - 1}\n`,
    )
    expect(cut.status).toBe(3)
    const grown = await put(longer)
    expect(grown.stderr).toBe(
      `error [FILE_CHANGED]: ${longer} changed while it was read: it grew past the ${2 * MIB} bytes it had when put opened it\n`,
    )
    expect(grown.status).toBe(3)
    expect(received).toEqual([])
  })

  it('reads the file again, whole, when the version it tried was taken and it writes the next', async () => {
    const file = join(dir, 'raced.bin')
    const size = 2 * MIB + 5
    await writeFile(file, bytesOf('raced', size))
    const attempts: Array<{ version: unknown; bytes: number }> = []
    const saved = { store: stub.behaviour.store, list: stub.behaviour.list }
    // No version yet; the first write meets a racing writer's, the second a plain refusal that ends it.
    stub.behaviour.list = () => ({ next_cursor: null, objects: [] })
    stub.behaviour.store = (request: JsonObject, bytes: number) => {
      attempts.push({ version: request.version, bytes })
      return attempts.length === 1
        ? {
            ok: false,
            error_code: 'SE_ERR_INVALID_VERSION',
            error_detail: 'version 1 is held by another writer',
            code: 'VERSION_CONFLICT',
            storage_event_id: null,
          }
        : {
            ok: false,
            error_code: 'SE_ERR_INVALID_INPUT',
            error_detail: 'stop here',
            code: 'INVALID_INPUT',
            storage_event_id: null,
          }
    }
    try {
      const r = await runCli(['put', file, '--node', stub.address, '--namespace', 'n', '--id', 'raced'])
      expect(attempts).toEqual([
        { version: 1, bytes: size },
        { version: 2, bytes: size },
      ])
      expect(r.stderr).toBe('error [INVALID_INPUT]: stop here\n')
      expect(r.status).toBe(2)
    } finally {
      stub.behaviour.store = saved.store
      stub.behaviour.list = saved.list
    }
  })
})
