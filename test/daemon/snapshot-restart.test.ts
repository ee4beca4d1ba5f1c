import { execFileSync } from 'node:child_process'
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { DEFAULT_PARAMS } from '../../src/core/params.js'
import { type RunningNode, startNode } from '../../src/daemon/daemon.js'
import { createLogger } from '../../src/daemon/logger.js'
import { writeSnapshotFile } from '../../src/daemon/snapshot-file.js'
import type { EpochSnapshot } from '../../src/membership/snapshot.js'
import { capturingLogger, configOf, type Member, members, removeRoot, signed } from './snapshot-fixture.js'

// docs/operations.md "Snapshots": a node's epochs only go forward and its eligible set does not
// change, across a restart too. The adopted snapshot is saved as D/snapshot-head.json; before it,
// a restart took whatever trusted snapshot the file held as a new anchor.

const silent = createLogger('silent')
let root = ''
let ms: Member[] = []
let e0: EpochSnapshot
let e1: EpochSnapshot
let fork1: EpochSnapshot
let shrunk2: EpochSnapshot
const running: RunningNode[] = []

beforeAll(async () => {
  ;({ root, members: ms } = await members('snapshot-restart', 2))
  // Node 1 is listed but never started: only node 0 runs.
  const entries = ms.map((m) => m.entry)
  e0 = signed(0, entries)
  e1 = signed(1, entries, { previous: e0 })
  fork1 = signed(1, entries, { previous: e0, startTick: 150 })
  shrunk2 = signed(2, entries.slice(0, 1), { previous: e1 })
})
// Every test stops what it started, also when it fails, so the next one can open the database.
afterEach(async () => {
  for (const n of running.splice(0)) await n.stop().catch(() => {})
})
afterAll(() => removeRoot(root))

/** Starts `member` on `snapshot` written as its snapshot file; the node is stopped after the test. */
async function startMember(
  member: Member,
  snapshot: EpochSnapshot,
  logger = silent,
  flags = {},
): Promise<RunningNode> {
  const config = await configOf(member, flags)
  await writeSnapshotFile(config.snapshot, snapshot)
  const node = await startNode(config, { logger })
  running.push(node)
  return node
}

/** `epochs` are unknown to `node`, and a warning with `fields` said why. */
function expectUnknownWithWarning(
  node: RunningNode,
  epochs: number[],
  lines: Array<Record<string, unknown>>,
  fields: Record<string, unknown>,
): void {
  for (const epoch of epochs) expect(node.membership.at(epoch), `epoch ${epoch}`).toBeUndefined()
  expect(lines).toContainEqual(expect.objectContaining({ level: 'warn', ...fields }))
}

const startWith = (snapshot: EpochSnapshot, flags = {}, logger = silent) =>
  startMember(ms[0]!, snapshot, logger, flags)

async function refusedStart(snapshot: EpochSnapshot): Promise<unknown> {
  return startWith(snapshot).then(
    async (node) => {
      await node.stop()
      return { started: node.membership.current().epoch }
    },
    (err: unknown) => err,
  )
}

/** docs/operations.md "Data directory": the head a restart compares the snapshot file against. */
const headFile = () => join(ms[0]!.id.dir, 'snapshot-head.json')
const savedHead = async () => JSON.parse(await readFile(headFile(), 'utf8')) as Record<string, unknown>

describe('a restart keeps the snapshot chain', () => {
  it('saves the snapshot it adopts, at start and on reload', async () => {
    const n = await startWith(e0)
    expect(await savedHead()).toMatchObject({
      schema: 'qfs-snapshot-head/1',
      epoch: 0,
      snapshot_hash: e0.snapshot_hash,
      node_count: 2,
    })
    await writeSnapshotFile(n.config.snapshot, e1)
    expect(await n.reloadSnapshot()).toBe('adopted')
    expect(await savedHead()).toMatchObject({ epoch: 1, snapshot_hash: e1.snapshot_hash, start_tick: 100 })
    // A refused change is not saved.
    await writeSnapshotFile(n.config.snapshot, shrunk2)
    await expect(n.reloadSnapshot()).rejects.toMatchObject({ code: 'MEMBERSHIP_CHANGE_UNSUPPORTED' })
    expect(await savedHead()).toMatchObject({ epoch: 1 })
    await n.stop()
  })

  it('refuses an older epoch (a replay): SNAPSHOT_REJECTED BROKEN_CHAIN naming the epoch adopted', async () => {
    const err = await refusedStart(e0)
    expect(err).toMatchObject({ code: 'SNAPSHOT_REJECTED', reason: 'BROKEN_CHAIN' })
    expect((err as Error).message).toMatch(/epoch 0 is older than epoch 1 .*adopted before/)
  })

  it('refuses another snapshot of the epoch it adopted', async () => {
    expect(await refusedStart(fork1)).toMatchObject({ code: 'SNAPSHOT_REJECTED', reason: 'BROKEN_CHAIN' })
  })

  it('refuses the node set change it refused while running: MEMBERSHIP_CHANGE_UNSUPPORTED', async () => {
    const err = await refusedStart(shrunk2)
    expect(err).toMatchObject({ code: 'MEMBERSHIP_CHANGE_UNSUPPORTED' })
    expect((err as Error).message).toContain('lists 1 nodes, not the 2 eligible in epoch 1')
    // Put back, the snapshot it adopted starts it again.
    expect(await refusedStart(e1)).toEqual({ started: 1 })
  })

  it('adopts a later epoch with the same nodes, new parameters included, and says so', async () => {
    const params = { ...DEFAULT_PARAMS, numShardsPerObject: 2 }
    // Epoch 2 was never seen: a later epoch is taken without the links in between.
    const e3 = signed(3, ms.map((m) => m.entry).reverse(), { params, startTick: 300 })
    const { logger, lines } = capturingLogger()
    const n = await startWith(e3, {}, logger)
    expect(n.membership.current()).toMatchObject({ epoch: 3, params })
    await n.stop()
    expect(await savedHead()).toMatchObject({ epoch: 3, snapshot_hash: e3.snapshot_hash })
    expect(lines).toContainEqual(
      expect.objectContaining({
        level: 'warn',
        msg: 'the snapshot changes the protocol parameters this node last ran with',
      }),
    )
  })

  it('judges a reload against the head when it started without a snapshot', async () => {
    const { logger, lines } = capturingLogger()
    const n = await startWith(e1, { allow_no_snapshot: true }, logger)
    expect(n.membership.latest).toBeUndefined()
    expect(lines).toContainEqual(
      expect.objectContaining({
        msg: 'starting without an epoch snapshot: not ready until one is loaded',
        reason: expect.stringMatching(/BROKEN_CHAIN: .*epoch 1 is older than epoch 3/),
      }),
    )
    await expect(n.reloadSnapshot()).rejects.toMatchObject({
      code: 'SNAPSHOT_REJECTED',
      reason: 'BROKEN_CHAIN',
    })
    expect(n.membership.latest).toBeUndefined()
    await n.stop()
  })

  it('in a data directory without a head (older versions kept none) adopts the file and saves it', async () => {
    await rm(headFile(), { force: true })
    const n = await startWith(e0)
    expect(n.membership.current().epoch).toBe(0)
    await n.stop()
    expect(await savedHead()).toMatchObject({ epoch: 0, snapshot_hash: e0.snapshot_hash })
  })
})

describe('a restart keeps the earlier epochs (D/snapshots)', () => {
  let hroot = ''
  let hm: Member[] = []
  beforeAll(async () => {
    ;({ root: hroot, members: hm } = await members('snapshot-history', 2))
  })
  afterAll(() => removeRoot(hroot))

  const start = (snapshot: EpochSnapshot, logger = silent) => startMember(hm[0]!, snapshot, logger)
  const history = (epoch: number) => join(hm[0]!.id.dir, 'snapshots', `epoch-${epoch}.json`)

  it('saves each adopted snapshot and gives a restarted node its earlier epochs back', async () => {
    const entries = hm.map((m) => m.entry)
    const h0 = signed(0, entries)
    const h1 = signed(1, entries, { previous: h0 })
    const h2 = signed(2, entries, { previous: h1 })
    let n = await start(h0)
    await writeSnapshotFile(n.config.snapshot, h1)
    expect(await n.reloadSnapshot()).toBe('adopted')
    await n.stop()
    expect(JSON.parse(await readFile(history(0), 'utf8'))).toEqual(h0)
    expect(JSON.parse(await readFile(history(1), 'utf8'))).toEqual(h1)

    // Restarted on epoch 2's file: epochs 0 and 1 are known again, 2 is in force and saved.
    n = await start(h2)
    expect(n.membership.current().epoch).toBe(2)
    expect(n.membership.at(1)?.snapshotHash).toBe(h1.snapshot_hash)
    expect(n.membership.at(0)?.snapshotHash).toBe(h0.snapshot_hash)
    await n.stop()
    expect(JSON.parse(await readFile(history(2), 'utf8'))).toEqual(h2)

    // A saved snapshot that no longer verifies is refused with a warning, and the epochs before it too.
    const tampered = { ...h1, start_tick: h1.start_tick + 1 }
    await writeFile(history(1), JSON.stringify(tampered))
    const { logger, lines } = capturingLogger()
    n = await start(h2, logger)
    expectUnknownWithWarning(n, [1, 0], lines, {
      msg: 'a saved snapshot was refused: the epochs up to it stay unknown to this node',
      path: history(1),
    })
    await n.stop()
  })

  it('loads no epoch from before a gap in the chain, even one a trusted authority signed', async () => {
    const { root: groot, members: gm } = await members('snapshot-gap', 2)
    try {
      const entries = gm.map((m) => m.entry)
      const g0 = signed(0, entries)
      const g1 = signed(1, entries, { previous: g0 })
      const g2 = signed(2, entries, { previous: g1 })
      const g3 = signed(3, entries, { previous: g2 })
      const startOn = (snapshot: EpochSnapshot, logger = silent) => startMember(gm[0]!, snapshot, logger)
      await (await startOn(g0)).stop()
      // Away during epoch 2: the node comes back on epoch 3, without the link between.
      await (await startOn(g1)).stop()
      // The node's own epoch 1 replaced by another trusted one (a fork with a third node).
      const third = (await members('snapshot-gap-x', 1)).members[0]!
      const fork1 = signed(1, [...entries, third.entry], { previous: g0, startTick: 150 })
      await writeFile(join(gm[0]!.id.dir, 'snapshots', 'epoch-1.json'), JSON.stringify(fork1))
      const { logger, lines } = capturingLogger()
      const n = await startOn(g3, logger)
      expect(n.membership.current().epoch).toBe(3)
      expectUnknownWithWarning(n, [1, 0], lines, {
        msg: 'a saved snapshot is missing: the epochs before it stay unknown to this node',
        missing_epoch: 2,
      })
      await n.stop()
    } finally {
      await removeRoot(groot)
    }
  })

  it('starts when D/snapshots cannot be written or holds no snapshot (a FIFO), with warnings', async () => {
    const { root: froot, members: fm } = await members('snapshot-odd', 2)
    try {
      const entries = fm.map((m) => m.entry)
      const f0 = signed(0, entries)
      const f1 = signed(1, entries, { previous: f0 })
      const history = join(fm[0]!.id.dir, 'snapshots')
      // A file where the directory belongs: the snapshot is adopted, unsaved.
      await writeFile(history, 'not a directory')
      const odd = capturingLogger()
      let n = await startMember(fm[0]!, f0, odd.logger)
      expect(n.membership.current().epoch).toBe(0)
      expect(odd.lines).toContainEqual(
        expect.objectContaining({
          level: 'warn',
          msg: 'the snapshot could not be saved in D/snapshots: a restart will not know this epoch',
          epoch: 0,
        }),
      )
      await n.stop()
      await rm(history)
      // A FIFO named as epoch 0: never opened (a read would wait for a writer for ever).
      await mkdir(history)
      execFileSync('mkfifo', [join(history, 'epoch-0.json')])
      const fifo = capturingLogger()
      n = await startMember(fm[0]!, f1, fifo.logger)
      expect(n.membership.current().epoch).toBe(1)
      expect(n.membership.at(0)).toBeUndefined()
      expect(fifo.lines).toContainEqual(
        expect.objectContaining({
          msg: 'a saved snapshot was refused: the epochs up to it stay unknown to this node',
          reason: `${join(history, 'epoch-0.json')} is not a regular file`,
        }),
      )
      await n.stop()
      expect(await readdir(history)).toEqual(['epoch-0.json', 'epoch-1.json'])
    } finally {
      await removeRoot(froot)
    }
  })
})
