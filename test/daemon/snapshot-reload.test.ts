import { mkdir, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import pino from 'pino'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { toHex } from '../../src/core/bytes.js'
import { DEFAULT_PARAMS } from '../../src/core/params.js'
import type { NodeConfig } from '../../src/daemon/config.js'
import { loadInitialSnapshot, reloadSnapshot } from '../../src/daemon/snapshot-adoption.js'
import { readSnapshotHead, savedSnapshotPath, writeSnapshotFile } from '../../src/daemon/snapshot-file.js'
import { generateAuditKey } from '../../src/log/keys.js'
import { createSnapshot, type EpochSnapshot, signSnapshot } from '../../src/membership/snapshot.js'
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

// SIGHUP reload (snapshot-adoption.ts): the file is verified before anything about it is compared,
// so a forged or untrusted file is SNAPSHOT_REJECTED, never a "change" with advice to restart; and a
// file that cannot be read, or is not there, says so in our own words.

const stranger = generateAuditKey(new Uint8Array(32).fill(77))
let root = ''
let ms: Member[] = []
let config: NodeConfig
let e0: EpochSnapshot
let e1: EpochSnapshot
let membership: SnapshotMembership

beforeAll(async () => {
  ;({ root, members: ms } = await members('snapshot-reload', 4))
  config = await configOf(ms[0]!)
  // Nodes 0..2 are the eligible set; node 3 only stands in for a changed one.
  e0 = signed(
    0,
    ms.slice(0, 3).map((m) => m.entry),
  )
  e1 = signed(
    1,
    ms.slice(0, 3).map((m) => m.entry),
    { previous: e0 },
  )
})
afterAll(() => removeRoot(root))
beforeEach(async () => {
  // Each test starts the node's chain afresh at epoch 0.
  await rm(join(config.dir, 'snapshot-head.json'), { force: true })
  membership = new SnapshotMembership({ trustedKeys: [authority.publicKey] })
  await writeSnapshotFile(config.snapshot, e0)
  await loadInitialSnapshot(config, membership, capturingLogger().logger)
})

async function reloadWith(value: unknown) {
  await rm(config.snapshot, { recursive: true, force: true })
  if (value !== undefined) await writeSnapshotFile(config.snapshot, value as EpochSnapshot)
  const { logger, lines } = capturingLogger()
  const outcome = await reloadSnapshot(config, membership, DEFAULT_PARAMS, logger).catch(
    (err: unknown) => err,
  )
  return { outcome, lines }
}

describe('reload verifies the file before it compares it', () => {
  const eligible = () => ms.slice(0, 3).map((m) => m.entry)
  const rf2 = { ...DEFAULT_PARAMS, replicationFactor: 2 }

  it('a forged signature with other parameters is BAD_SIGNATURE; signed, the change is PARAMS_CHANGED', async () => {
    const forged = signed(1, eligible(), { previous: e0, params: rf2 })
    forged.signature = 'ab'.repeat(3309)
    expect((await reloadWith(forged)).outcome).toMatchObject({
      code: 'SNAPSHOT_REJECTED',
      reason: 'BAD_SIGNATURE',
    })
    const genuine = signed(1, eligible(), { previous: e0, params: rf2 })
    expect((await reloadWith(genuine)).outcome).toMatchObject({ code: 'PARAMS_CHANGED' })
    expect(membership.current().epoch).toBe(0)
  })

  it('an untrusted authority naming other nodes is UNTRUSTED_AUTHORITY; signed, the change is MEMBERSHIP_CHANGE_UNSUPPORTED', async () => {
    const fewer = ms.slice(0, 2).map((m) => m.entry)
    const other = signSnapshot(
      createSnapshot({
        epoch: 1,
        startTick: 100,
        nodes: fewer,
        previous: e0,
        authorityPublicKey: stranger.publicKey,
      }),
      stranger,
    )
    expect((await reloadWith(other)).outcome).toMatchObject({
      code: 'SNAPSHOT_REJECTED',
      reason: 'UNTRUSTED_AUTHORITY',
    })
    const genuine = signed(1, fewer, { previous: e0 })
    expect((await reloadWith(genuine)).outcome).toMatchObject({ code: 'MEMBERSHIP_CHANGE_UNSUPPORTED' })
    // Same size, one node swapped for another: a changed set too.
    const swapped = signed(
      1,
      [ms[0]!, ms[1]!, ms[3]!].map((m) => m.entry),
      { previous: e0 },
    )
    expect((await reloadWith(swapped)).outcome).toMatchObject({ code: 'MEMBERSHIP_CHANGE_UNSUPPORTED' })
    expect(membership.current().epoch).toBe(0)
  })

  it('a file without params, or with a null node, is MALFORMED; the good next epoch is adopted', async () => {
    const { params: _dropped, ...noParams } = e1
    expect((await reloadWith(noParams)).outcome).toMatchObject({
      code: 'SNAPSHOT_REJECTED',
      reason: 'MALFORMED',
    })
    const nullNode = { ...e1, nodes: [e1.nodes[0], e1.nodes[1], null] }
    expect((await reloadWith(nullNode)).outcome).toMatchObject({
      code: 'SNAPSHOT_REJECTED',
      reason: 'MALFORMED',
    })
    expect((await reloadWith(e1)).outcome).toBe('adopted')
    expect(membership.current().epoch).toBe(1)
  })

  it('a file that begins with a byte order mark is MALFORMED saying so, not "not JSON"', async () => {
    await writeFile(config.snapshot, `\uFEFF${JSON.stringify(e1)}`)
    const outcome = await reloadSnapshot(config, membership, DEFAULT_PARAMS, capturingLogger().logger).catch(
      (err: unknown) => err,
    )
    expect(outcome).toMatchObject({ code: 'SNAPSHOT_REJECTED', reason: 'MALFORMED' })
    expect((outcome as Error).message).toBe(
      `MALFORMED: ${config.snapshot} begins with a byte order mark (U+FEFF); a snapshot file is its JSON alone, save it without the mark`,
    )
    expect(membership.current().epoch).toBe(0)
  })
})

describe('a refused reload as the operator reads it', () => {
  it('states its reason once in the logged error (pino appends a cause message again)', async () => {
    const broken = signed(
      1,
      ms.slice(0, 3).map((m) => m.entry),
      { previous: e1 },
    )
    const { outcome } = await reloadWith(broken)
    expect(outcome).toMatchObject({ code: 'SNAPSHOT_REJECTED' })
    const logged = pino.stdSerializers.err(outcome as Error).message
    const reason = (outcome as { reason: string }).reason
    expect(logged.split(reason).length - 1).toBe(1)
  })
})

describe('reload of a snapshot file that is not there or cannot be read', () => {
  it('a directory in its place is SNAPSHOT_UNREADABLE naming the file, not a raw EISDIR', async () => {
    await rm(config.snapshot, { force: true })
    await mkdir(config.snapshot)
    const { logger } = capturingLogger()
    const err = await reloadSnapshot(config, membership, DEFAULT_PARAMS, logger).catch((e: unknown) => e)
    expect(err).toMatchObject({ code: 'SNAPSHOT_UNREADABLE' })
    expect((err as Error).message).toBe(`the snapshot file ${config.snapshot} cannot be read (EISDIR)`)
    // The same at start.
    const fresh = new SnapshotMembership({ trustedKeys: [authority.publicKey] })
    await expect(loadInitialSnapshot(config, fresh, logger)).rejects.toMatchObject({
      code: 'SNAPSHOT_UNREADABLE',
    })
    await rm(config.snapshot, { recursive: true })
  })

  it('no file is a warning that says no file was there, and the snapshot in force stays', async () => {
    const { outcome, lines } = await reloadWith(undefined)
    expect(outcome).toBe('no-file')
    expect(lines).toEqual([
      expect.objectContaining({
        level: 'warn',
        msg: 'no snapshot file was there to reload: the snapshot in force stays',
        path: config.snapshot,
        epoch: 0,
      }),
    ])
    expect(membership.current().epoch).toBe(0)
  })
})

describe('reload of a snapshot already held, and of one no key is configured for', () => {
  it('an older epoch held is unchanged: the snapshot in force and the saved head stay', async () => {
    expect((await reloadWith(e1)).outcome).toBe('adopted')
    expect((await readSnapshotHead(config.dir))?.epoch).toBe(1)
    expect((await reloadWith(e0)).outcome).toBe('unchanged')
    expect(membership.current().epoch).toBe(1)
    // A head moved back to epoch 0 would let a restart take epoch 0 again (a replay).
    expect((await readSnapshotHead(config.dir))?.epoch).toBe(1)
  })

  it('a node started without a snapshot gets its saved earlier epochs back when a reload adopts one', async () => {
    // beforeEach adopted epoch 0, which saved it in D/snapshots; this membership never held it.
    const fresh = new SnapshotMembership({ trustedKeys: [authority.publicKey] })
    await writeSnapshotFile(config.snapshot, e1)
    expect(await reloadSnapshot(config, fresh, DEFAULT_PARAMS, capturingLogger().logger)).toBe('adopted')
    expect(fresh.current().epoch).toBe(1)
    expect(fresh.at(0)?.snapshotHash).toBe(e0.snapshot_hash)
  })

  it('an untrusted authority with no trusted_authorities configured says to add --trust', async () => {
    const hint = ' (no trusted_authorities are configured: add --trust KEY)'
    const untrusting = { ...config, trustedAuthorities: [] }
    await writeSnapshotFile(config.snapshot, e1)
    const none = new SnapshotMembership({ trustedKeys: [] })
    const err = await reloadSnapshot(untrusting, none, DEFAULT_PARAMS, capturingLogger().logger).catch(
      (e: unknown) => e,
    )
    expect(err).toMatchObject({ code: 'SNAPSHOT_REJECTED', reason: 'UNTRUSTED_AUTHORITY' })
    expect((err as Error).message.endsWith(hint)).toBe(true)
    // With a key configured, only not that one: no hint.
    const stranger = new SnapshotMembership({
      trustedKeys: [toHex(generateAuditKey(new Uint8Array(32).fill(78)).publicKey)],
    })
    const other = await reloadSnapshot(config, stranger, DEFAULT_PARAMS, capturingLogger().logger).catch(
      (e: unknown) => e,
    )
    expect(other).toMatchObject({ reason: 'UNTRUSTED_AUTHORITY' })
    expect((other as Error).message).not.toContain('add --trust')
  })

  it('a saved snapshot file holding another epoch than its name is refused with a warning naming it', async () => {
    // epoch-0.json overwritten with epoch 1, the snapshot the restart below runs on.
    await writeSnapshotFile(savedSnapshotPath(config.dir, 0), e1)
    await writeSnapshotFile(config.snapshot, e1)
    const restarted = new SnapshotMembership({ trustedKeys: [authority.publicKey] })
    const { logger, lines } = capturingLogger()
    await loadInitialSnapshot(config, restarted, logger)
    expect(restarted.current().epoch).toBe(1)
    expect(restarted.at(0)).toBeUndefined()
    expect(lines).toContainEqual(
      expect.objectContaining({
        level: 'warn',
        msg: 'a saved snapshot was refused: the epochs up to it stay unknown to this node',
        path: savedSnapshotPath(config.dir, 0),
        reason: `MALFORMED: ${savedSnapshotPath(config.dir, 0)} holds epoch 1`,
      }),
    )
  })
})

describe('the saved head as a reload and a start rely on it', () => {
  const headPath = () => join(config.dir, 'snapshot-head.json')

  it('a head that cannot be written stops the reload before the snapshot is adopted', async () => {
    // A directory where the head belongs: writing it fails as a full disk would.
    await rm(headPath(), { force: true })
    await mkdir(headPath())
    try {
      const { outcome } = await reloadWith(e1)
      expect(outcome).toBeInstanceOf(Error)
      // Adopted first, a crash here would restart on a head of epoch 0: the epoch in force stays 0.
      expect(membership.current().epoch).toBe(0)
    } finally {
      await rm(headPath(), { recursive: true, force: true })
    }
  })

  it('a head that is JSON but no snapshot head is INVALID_DATA_DIR at start, never taken as no head', async () => {
    await writeFile(headPath(), JSON.stringify({ ...headOf(e1), epoch: 'one' }))
    await writeSnapshotFile(config.snapshot, e0)
    const err = await loadInitialSnapshot(
      config,
      new SnapshotMembership({ trustedKeys: [authority.publicKey] }),
      capturingLogger().logger,
    ).catch((e: unknown) => e)
    expect(err).toMatchObject({ code: 'INVALID_DATA_DIR' })
    expect((err as Error).message).toBe(
      `${headPath()} is not a snapshot head (epoch must be a safe non-negative integer); remove it to adopt the snapshot file as a new anchor`,
    )
  })
})
