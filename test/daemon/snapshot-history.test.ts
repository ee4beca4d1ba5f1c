import { mkdir, mkdtemp, rm, truncate, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { listSnapshotHistory, readSavedSnapshot } from '../../src/daemon/snapshot-file.js'

// D/snapshots (docs/operations.md "Data directory"): the node reads back only the files it writes,
// epoch-<n>.json with n in plain decimal, and only files of a snapshot's size.

let dir = ''
let history = ''

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'qfs-snapshot-history-'))
  history = join(dir, 'snapshots')
  await mkdir(history)
})
afterAll(async () => {
  if (dir !== '') await rm(dir, { recursive: true, force: true })
})

describe('the saved snapshots of a data directory', () => {
  it('lists epoch-<n>.json below the epoch asked, newest first, and no other name', async () => {
    const names = ['epoch-0.json', 'epoch-2.json', 'epoch-10.json', 'epoch-3.json', 'epoch-4.json']
    // Not names the node writes: a leading zero (a second file for epoch 1), a sign, other text.
    const others = ['epoch-01.json', 'epoch-00.json', 'epoch--1.json', 'epoch-1.json.tmp', 'notes.txt']
    for (const name of [...names, ...others]) await writeFile(join(history, name), '{}')
    expect(await listSnapshotHistory(dir, 4)).toEqual(
      [3, 2, 0].map((epoch) => ({ epoch, path: join(history, `epoch-${epoch}.json`) })),
    )
    expect((await listSnapshotHistory(dir, 11)).map((e) => e.epoch)).toEqual([10, 4, 3, 2, 0])
  })

  it('refuses unread a file larger than any snapshot, naming its size', async () => {
    const big = join(history, 'epoch-7.json')
    await writeFile(big, '')
    // Sparse: 64 MiB and one byte take no space.
    await truncate(big, 64 * 1024 * 1024 + 1)
    await expect(readSavedSnapshot(big)).rejects.toMatchObject({
      code: 'SNAPSHOT_UNREADABLE',
      message: `${big} is ${64 * 1024 * 1024 + 1} bytes, more than a snapshot holds`,
    })
    await rm(big)
  })
})
