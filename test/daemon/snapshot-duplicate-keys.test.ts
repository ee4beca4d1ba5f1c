import { mkdir, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { DEFAULT_PARAMS } from '../../src/core/params.js'
import type { NodeConfig } from '../../src/daemon/config.js'
import { loadInitialSnapshot, reloadSnapshot } from '../../src/daemon/snapshot-adoption.js'
import { readSavedSnapshot, savedSnapshotPath, writeSnapshotFile } from '../../src/daemon/snapshot-file.js'
import type { EpochSnapshot } from '../../src/membership/snapshot.js'
import { headOf } from '../../src/membership/snapshot-head.js'
import { SnapshotMembership } from '../../src/membership/snapshot-membership.js'
import {
  authority,
  capturingLogger,
  configOf,
  type Member,
  members,
  removeRoot,
  signed,
} from './snapshot-fixture.js'

// JSON.parse keeps the last of two equal keys; other JSON readers keep the first. A signed snapshot
// file with `"epoch":99` in front of its signed `"epoch":0` verifies here as epoch 0 and would read
// as epoch 99 elsewhere, so every reader of the node's snapshot files refuses a key given twice.

let root = ''
let ms: Member[] = []
let config: NodeConfig
let e0: EpochSnapshot
let e1: EpochSnapshot

/** `value` as its file holds it, with `"key":first` put before its own keys. */
const withKeyTwice = (value: unknown, key: string, first: unknown) =>
  JSON.stringify(value, null, 2).replace('{', `{${JSON.stringify(key)}:${JSON.stringify(first)},`)

beforeAll(async () => {
  ;({ root, members: ms } = await members('snapshot-twice', 2))
  config = await configOf(ms[0]!)
  e0 = signed(
    0,
    ms.map((m) => m.entry),
  )
  e1 = signed(
    1,
    ms.map((m) => m.entry),
    { previous: e0 },
  )
})
afterAll(() => removeRoot(root))
beforeEach(async () => {
  await rm(join(config.dir, 'snapshot-head.json'), { force: true })
  await rm(join(config.dir, 'snapshots'), { recursive: true, force: true })
})

const newMembership = () => new SnapshotMembership({ trustedKeys: [authority.publicKey] })

describe('a snapshot file that gives a key twice', () => {
  it('is refused at start: SNAPSHOT_REJECTED MALFORMED naming the key', async () => {
    await writeFile(config.snapshot, withKeyTwice(e0, 'epoch', 99))
    const membership = newMembership()
    const err = await loadInitialSnapshot(config, membership, capturingLogger().logger).catch(
      (e: unknown) => e,
    )
    expect(err).toMatchObject({ code: 'SNAPSHOT_REJECTED', reason: 'MALFORMED' })
    expect((err as Error).message).toBe(`MALFORMED: ${config.snapshot} gives epoch twice in one object`)
    expect(membership.latest).toBeUndefined()
  })

  it('is refused on reload, a key of a node too; the snapshot in force stays', async () => {
    await writeSnapshotFile(config.snapshot, e0)
    const membership = newMembership()
    await loadInitialSnapshot(config, membership, capturingLogger().logger)
    await writeFile(config.snapshot, withKeyTwice(e1, 'epoch', 2))
    await expect(
      reloadSnapshot(config, membership, DEFAULT_PARAMS, capturingLogger().logger),
    ).rejects.toMatchObject({
      code: 'SNAPSHOT_REJECTED',
      reason: 'MALFORMED',
    })
    const text = JSON.stringify(e1).replace(
      '"node_id":',
      `"node_id":${JSON.stringify(ms[1]!.entry.node_id)},"node_id":`,
    )
    await writeFile(config.snapshot, text)
    await expect(
      reloadSnapshot(config, membership, DEFAULT_PARAMS, capturingLogger().logger),
    ).rejects.toThrow(`${config.snapshot} gives nodes.node_id twice in one object`)
    expect(membership.current().epoch).toBe(0)
  })

  it('in D/snapshots is refused when read back, and a restart leaves its epoch unknown', async () => {
    await mkdir(join(config.dir, 'snapshots'))
    const saved = savedSnapshotPath(config.dir, 0)
    await writeFile(saved, withKeyTwice(e0, 'start_tick', 5))
    await expect(readSavedSnapshot(saved)).rejects.toMatchObject({
      code: 'SNAPSHOT_REJECTED',
      reason: 'MALFORMED',
      detail: `${saved} gives start_tick twice in one object`,
    })
    await writeSnapshotFile(config.snapshot, e1)
    const membership = newMembership()
    const { logger, lines } = capturingLogger()
    await loadInitialSnapshot(config, membership, logger)
    expect(membership.at(0)).toBeUndefined()
    expect(lines).toContainEqual(
      expect.objectContaining({
        level: 'warn',
        path: saved,
        reason: expect.stringContaining('gives start_tick twice'),
      }),
    )
  })
})

describe('a snapshot-head.json that gives a key twice', () => {
  it('is INVALID_DATA_DIR naming the key: the epoch the chain stands at would depend on the reader', async () => {
    const head = join(config.dir, 'snapshot-head.json')
    await writeFile(head, withKeyTwice(headOf(e1), 'epoch', 0))
    await writeSnapshotFile(config.snapshot, e0)
    const err = await loadInitialSnapshot(config, newMembership(), capturingLogger().logger).catch(
      (e: unknown) => e,
    )
    expect(err).toMatchObject({ code: 'INVALID_DATA_DIR' })
    expect((err as Error).message).toBe(`${head} gives epoch twice in one object`)
  })

  it('names a key with control characters escaped, so the error stays one line and sends no terminal escape', async () => {
    const head = join(config.dir, 'snapshot-head.json')
    await writeFile(head, '{"x\\u001b[31m\\ny": 1, "x\\u001b[31m\\ny": 2}')
    await writeSnapshotFile(config.snapshot, e0)
    const err = await loadInitialSnapshot(config, newMembership(), capturingLogger().logger).catch(
      (e: unknown) => e,
    )
    expect(err).toMatchObject({ code: 'INVALID_DATA_DIR' })
    expect((err as Error).message).toBe(`${head} gives x\\u001b[31m\\ny twice in one object`)
    expect((err as Error).message).not.toMatch(/\p{Cc}/u)
  })
})
