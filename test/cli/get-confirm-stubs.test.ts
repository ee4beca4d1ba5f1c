import { mkdtemp, readdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest'
import type { CliIo } from '../../src/cli/io.js'
import { main } from '../../src/cli/main.js'
import { QfsClient } from '../../src/sdk/client.js'
import { fixture, honestRead, type StubNode, stubNode } from '../sdk/stub.js'
import { runCli } from './run.js'

/**
 * `get --confirm-with` against scripted nodes: one serves the read, three answer the listings the
 * confirmation asks for, each as the test says (agree, list another hash_commit, list nothing, stall).
 */
describe('qfs-node get --confirm-with, nodes asked scripted', () => {
  let reader: StubNode
  const asked: StubNode[] = []
  let dir: string
  const f = fixture('cli-confirm-stubs', 3000)
  /** `qfs-node get` of version 1 of the fixture's object through `node` into `out`, with `extra` flags. */
  const getVersion1 = (node: string, out: string, ...extra: string[]) =>
    runCli(['get', f.oid, '--version', '1', '--node', node, '-o', out, ...extra])
  const other = 'cd'.repeat(32)
  /** The summary a node lists for version 1 of the fixture, with `hash_commit`. */
  const listed = (hashCommit: string) => ({
    object_id: f.oid,
    version: 1,
    kind: 'STORE',
    hash_commit: hashCommit,
    content_size: f.record.content_size,
    created_at_tick: f.metadata.created_at_tick,
    metadata: f.metadata,
  })
  const confirmWith = () => asked.flatMap((s) => ['--confirm-with', s.address])
  const peerIds = () => asked.map((s) => s.node.peerId.toString())

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'qfs-cli-confirm-stubs-'))
    reader = await stubNode(2500)
    reader.behaviour.read = () => honestRead(f)
    for (const i of [1, 2, 3]) asked.push(await stubNode(2500 + i))
  })
  afterEach(() => {
    vi.restoreAllMocks()
  })
  afterAll(async () => {
    await reader?.close()
    for (const s of asked) await s.close()
    if (dir !== undefined) await rm(dir, { recursive: true, force: true })
  })

  it('--json on NOT_CONFIRMED prints the failure with confirmation {confirmed, agreeing, asked, answers}', async () => {
    asked[0]!.behaviour.list = () => ({ next_cursor: null, objects: [listed(other)] })
    asked[1]!.behaviour.list = () => ({ next_cursor: null, objects: [] })
    asked[2]!.behaviour.list = () => ({ next_cursor: null, objects: [listed(f.record.hash_commit)] })
    const out = join(dir, 'json-fail.bin')
    const r = await getVersion1(reader.address, out, '--json', ...confirmWith())
    expect(r.status).toBe(1)
    const printed = JSON.parse(r.stdout)
    expect(printed).toMatchObject({
      ok: false,
      code: 'NOT_CONFIRMED',
      error_code: 'SE_ERR_INTEGRITY_MISMATCH',
    })
    // The same fields as a confirmed read's summary carries, so a script reads one shape either way.
    expect(printed.confirmation).toEqual({
      confirmed: false,
      agreeing: 1,
      asked: peerIds(),
      answers: [{ hash_commit: other }, { hash_commit: null }, { hash_commit: f.record.hash_commit }],
    })
    expect(await readdir(dir)).toEqual([])
  })

  it('SIGINT while the nodes asked have not answered: exit 130, nothing written, no temporary file', async () => {
    let signalled = false
    let release: () => void = () => {}
    const held = new Promise<void>((resolve) => {
      release = resolve
    })
    for (const s of asked) {
      s.behaviour.list = async () => {
        if (!signalled) {
          // The confirmation is under way (the content verified and sits in the temporary file).
          signalled = true
          process.emit('SIGINT', 'SIGINT')
        }
        await held
        return { next_cursor: null, objects: [listed(f.record.hash_commit)] }
      }
    }
    let stderr = ''
    const io: CliIo = { stdout: () => {}, stderr: (t) => void (stderr += t), isTty: false }
    const out = join(dir, 'interrupted.bin')
    try {
      const status = await main(
        ['get', f.oid, '--version', '1', '--node', reader.address, '-o', out, ...confirmWith()],
        io,
      )
      expect(signalled).toBe(true)
      expect(status).toBe(130)
      expect(stderr).toBe(`interrupted (SIGINT): nothing written to ${out}\n`)
      expect(await readdir(dir)).toEqual([])
    } finally {
      release()
    }
  })

  it('a node asked that cannot be reached counts against: two of three agreeing confirm, one of three does not', async () => {
    for (const s of asked)
      s.behaviour.list = () => ({ next_cursor: null, objects: [listed(f.record.hash_commit)] })
    // Nobody listens on port 1: the dial is refused at once.
    const unreachable = (i: number) => `/ip4/127.0.0.1/tcp/1/p2p/${peerIds()[i]}`
    const out = join(dir, 'two-of-three.bin')
    const base = ['get', f.oid, '--version', '1', '--node', reader.address, '-o', out, '--json']
    const two = await runCli([
      ...base,
      ...['--confirm-with', asked[0]!.address, '--confirm-with', asked[1]!.address],
      ...['--confirm-with', unreachable(2)],
    ])
    expect(two.status).toBe(0)
    expect(JSON.parse(two.stdout).confirmation).toEqual({
      confirmed: true,
      agreeing: 2,
      asked: peerIds(),
      answers: [
        { hash_commit: f.record.hash_commit },
        { hash_commit: f.record.hash_commit },
        { code: 'NODE_UNAVAILABLE' },
      ],
    })
    expect(await readdir(dir)).toEqual(['two-of-three.bin'])
    await rm(out)
    const one = await runCli([
      ...base,
      ...[
        '--confirm-with',
        asked[0]!.address,
        '--confirm-with',
        unreachable(1),
        '--confirm-with',
        unreachable(2),
      ],
    ])
    expect(one.status).toBe(1)
    expect(one.stderr).toContain(
      `${peerIds()[1]} failed (NODE_UNAVAILABLE); ${peerIds()[2]} failed (NODE_UNAVAILABLE)`,
    )
    expect(JSON.parse(one.stdout).confirmation).toMatchObject({ confirmed: false, agreeing: 1 })
    expect(await readdir(dir)).toEqual([])
  })

  it('on a terminal, NOT_CONFIRMED comes on its own line after the progress bar, which is not drawn again', async () => {
    const big = fixture('cli-confirm-stubs-bar', 5 * 1024 * 1024)
    reader.behaviour.read = () => honestRead(big, 256 * 1024)
    for (const s of asked) s.behaviour.list = () => ({ next_cursor: null, objects: [] })
    let stderr = ''
    const io: CliIo = { stdout: () => {}, stderr: (t) => void (stderr += t), isTty: true }
    const out = join(dir, 'bar.bin')
    try {
      const status = await main(
        ['get', big.oid, '--version', '1', '--node', reader.address, '-o', out, ...confirmWith()],
        io,
      )
      expect(status).toBe(1)
    } finally {
      reader.behaviour.read = () => honestRead(f)
    }
    expect(stderr).toMatch(
      /\rget v1 \[#{30}\] 100% 5\.0\/5\.0 MiB\nerror \[NOT_CONFIRMED\]: [^\r\n]*; nothing written\n$/,
    )
    expect(await readdir(dir)).toEqual([])
  })

  it('the clients of the nodes asked share one libp2p node, stopped once they answered', async () => {
    for (const s of asked)
      s.behaviour.list = () => ({ next_cursor: null, objects: [listed(f.record.hash_commit)] })
    const create = QfsClient.create.bind(QfsClient)
    const dialers: unknown[] = []
    vi.spyOn(QfsClient, 'create').mockImplementation(async (init) => {
      dialers.push(init.libp2p)
      return create(init)
    })
    const out = join(dir, 'shared.bin')
    const r = await getVersion1(reader.address, out, ...confirmWith())
    expect(r.status).toBe(0)
    await rm(out)
    // The first is the client of --node, which starts its own.
    expect(dialers.length).toBe(4)
    expect(dialers[0]).toBeUndefined()
    const shared = new Set(dialers.slice(1))
    expect(shared.size).toBe(1)
    const [libp2p] = [...shared] as Array<{ status: string } | undefined>
    expect(libp2p?.status).toBe('stopped')
  })

  it('every client started is closed when starting the client for one node asked fails', async () => {
    for (const s of asked)
      s.behaviour.list = () => ({ next_cursor: null, objects: [listed(f.record.hash_commit)] })
    const create = QfsClient.create.bind(QfsClient)
    const started: QfsClient[] = []
    const closed = new Set<QfsClient>()
    let calls = 0
    vi.spyOn(QfsClient, 'create').mockImplementation(async (init) => {
      calls++
      // The 1st is the client of --node; the 3rd, for the second node asked, cannot start.
      if (calls === 3) throw new Error('cannot start a libp2p node (scripted)')
      const client = await create(init)
      started.push(client)
      const close = client.close.bind(client)
      vi.spyOn(client, 'close').mockImplementation(async () => {
        closed.add(client)
        await close()
      })
      return client
    })
    const out = join(dir, 'leak.bin')
    try {
      const r = await getVersion1(reader.address, out, ...confirmWith())
      expect(r.status).not.toBe(0)
      expect(calls).toBeGreaterThanOrEqual(3)
      expect(started.length).toBeGreaterThanOrEqual(2)
      // Counted, not printed: a client holds a libp2p node, which the diff printer cannot show.
      expect(started.filter((c) => !closed.has(c)).length).toBe(0)
      expect(await readdir(dir)).toEqual([])
    } finally {
      for (const c of started) await c.close()
    }
  })
})
