import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import {
  dataPaths,
  initDataDir,
  processAlive,
  readNodeIdentity,
  readRunInfo,
  writeAtomic,
} from '../../src/daemon/data-dir.js'

let root: string
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'qfs-data-dir-'))
})
afterAll(async () => {
  if (root !== undefined) await rm(root, { recursive: true, force: true })
})

describe('initDataDir', () => {
  it('gives every init racing on one new directory the one identity on disk', async () => {
    const dir = join(root, 'race')
    const results = await Promise.allSettled(Array.from({ length: 6 }, () => initDataDir(dir)))
    const ids = results.map((r) => (r.status === 'fulfilled' ? r.value.nodeId : String(r.reason)))
    const onDisk = await readNodeIdentity(dir)
    expect(ids).toEqual(ids.map(() => onDisk.nodeId))
  })
})

describe('readNodeIdentity', () => {
  it('is INVALID_DATA_DIR naming the node when node.json is there and the peer key is not', async () => {
    const id = await initDataDir(join(root, 'no-peer-key'))
    await rm(dataPaths(id.dir).peerKey)
    const err = await readNodeIdentity(id.dir).catch((e: unknown) => e)
    expect(err).toMatchObject({ code: 'INVALID_DATA_DIR' })
    expect((err as Error).message).toContain(id.nodeId)
  })
})

describe('run.json', () => {
  it('is INVALID_DATA_DIR when its pid is not an integer', async () => {
    const dir = join(root, 'run-pid')
    await mkdir(dir)
    const run = { schema: 'qfs-node-run/1', node_id: 'n', multiaddrs: [], api: 'http://127.0.0.1:1' }
    for (const pid of ['123', 1.5, null]) {
      await writeFile(dataPaths(dir).run, JSON.stringify({ ...run, pid }))
      await expect(readRunInfo(dir)).rejects.toMatchObject({ code: 'INVALID_DATA_DIR' })
    }
    await writeFile(dataPaths(dir).run, JSON.stringify({ ...run, pid: 123 }))
    expect(await readRunInfo(dir)).toMatchObject({ pid: 123 })
  })
})

describe('processAlive', () => {
  it('counts a process the system will not let this user signal (EPERM) as alive, and a gone one (ESRCH) as not', () => {
    const kill = vi.spyOn(process, 'kill')
    try {
      kill.mockImplementation(() => {
        throw Object.assign(new Error('operation not permitted'), { code: 'EPERM' })
      })
      expect(processAlive(4242)).toBe(true)
      kill.mockImplementation(() => {
        throw Object.assign(new Error('no such process'), { code: 'ESRCH' })
      })
      expect(processAlive(4242)).toBe(false)
    } finally {
      kill.mockRestore()
    }
  })
})

describe('writeAtomic', () => {
  it('leaves no temporary file behind when the rename fails', async () => {
    const dir = join(root, 'atomic')
    await mkdir(join(dir, 'target'), { recursive: true })
    // A directory in the way of the rename.
    await expect(writeAtomic(join(dir, 'target'), 'text', 0o644)).rejects.toThrow()
    expect(await readdir(dir)).toEqual(['target'])
  })
})
