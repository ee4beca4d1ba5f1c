import { existsSync } from 'node:fs'
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { meta } from '../engine/suite.js'
import { type Libp2pNetwork, libp2pHarness } from '../net/harness.js'
import { nodeAddress } from '../sdk/harness.js'
import { fixture, honestRead, type StubNode, stubNode } from '../sdk/stub.js'
import { runCli } from './run.js'

/**
 * `get --confirm-with`: a node that serves a made-up record with bytes that match it passes every
 * check of the read itself; FILE is written only once other nodes confirm the version.
 */
describe('qfs-node get --confirm-with', () => {
  let net: Libp2pNetwork
  let stub: StubNode
  let dir: string
  const f = fixture('cli-confirm', 2000)
  /** `qfs-node get` of version 1 of the fixture's object through `node` into `out`, with `extra` flags. */
  const getVersion1 = (node: string, out: string, ...extra: string[]) =>
    runCli(['get', f.oid, '--version', '1', '--node', node, '-o', out, ...extra])
  const real = new Uint8Array(2000).fill(9)
  const addr = (i: number) => nodeAddress(net, net.nodeIds[i]!)
  const confirmWith = () => [1, 2, 3].flatMap((i) => ['--confirm-with', addr(i)])

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'qfs-cli-confirm-'))
    net = await libp2pHarness(5)
    // The network decides version 1 of the fixture's object with other bytes than the stub serves.
    const put = await net.engine(net.nodeIds[0]!).putContent(f.oid, 1, real, meta(7))
    expect(put.ok).toBe(true)
    stub = await stubNode(2095)
    stub.behaviour.read = () => honestRead(f)
  }, 60_000)
  afterAll(async () => {
    await stub?.close()
    await net?.close()
    if (dir !== undefined) await rm(dir, { recursive: true, force: true })
  })

  it('a made-up version that reads back verified is refused NOT_CONFIRMED (exit 1), and no file is written', async () => {
    const out = join(dir, 'forged.bin')
    const decided = await net.engine(net.nodeIds[4]!).getContent(f.oid, 1)
    if (!decided.ok) throw new Error(decided.code)
    const r = await getVersion1(stub.address, out, ...confirmWith())
    expect(r.status).toBe(1)
    const asked = [1, 2, 3].map((i) => `${net.nodeIds[i]} lists ${decided.hash_commit}`)
    expect(r.stderr).toBe(
      `error [NOT_CONFIRMED]: version 1 of ${f.oid} with hash_commit ${f.record.hash_commit} is not confirmed: 0 of the 3 nodes asked list it (${asked.join('; ')}); nothing written\n`,
    )
    expect(existsSync(out)).toBe(false)
    expect(await readdir(dir)).toEqual([])
  })

  it('the same read without --confirm-with writes the made-up content (what the flag is for)', async () => {
    const out = join(dir, 'unconfirmed.bin')
    const r = await getVersion1(stub.address, out)
    expect(r.status).toBe(0)
    expect(Buffer.from(await readFile(out)).equals(Buffer.from(f.content))).toBe(true)
    await rm(out)
  })

  it('the decided version through an honest node is confirmed: FILE written, JSON says by whom', async () => {
    const out = join(dir, 'confirmed.bin')
    const r = await runCli(['get', f.oid, '--node', addr(0), '-o', out, '--json', ...confirmWith()])
    expect(r.status).toBe(0)
    expect(Buffer.from(await readFile(out)).equals(Buffer.from(real))).toBe(true)
    const summary = JSON.parse(r.stdout)
    expect(summary.confirmation).toEqual({
      confirmed: true,
      agreeing: 3,
      asked: [1, 2, 3].map((i) => net.nodeIds[i]),
      answers: [1, 2, 3].map(() => ({ hash_commit: summary.hash_commit })),
    })
    await rm(out)
  })

  it('says so in the text summary', async () => {
    const out = join(dir, 'text.bin')
    const r = await runCli(['get', f.oid, '--node', addr(0), '-o', out, ...confirmWith()])
    expect(r.status).toBe(0)
    expect(r.stdout).toMatch(/\nconfirmed by 3 of the 3 nodes asked\n$/)
    await rm(out)
  })

  it('refuses, before any dial, the --node itself, a node given twice and an address it cannot dial', async () => {
    // Ports nobody listens on: a dial would answer NODE_UNAVAILABLE (exit 3), not a usage error.
    const peer = (i: number) => net.nodeIds[i]!
    const at = (port: number, i: number) => `/ip4/127.0.0.1/tcp/${port}/p2p/${peer(i)}`
    const out = join(dir, 'refused.bin')
    for (const [extra, message] of [
      [['--confirm-with', at(1, 0)], `--confirm-with: ${peer(0)} is the --node one`],
      [['--confirm-with', at(1, 1), '--confirm-with', at(2, 1)], `--confirm-with: ${peer(1)} is given twice`],
      [
        ['--confirm-with', `/ip4/127.0.0.1/udp/1/p2p/${peer(1)}`],
        '--confirm-with: /ip4/127.0.0.1/udp/1/p2p/',
      ],
      [['--confirm-with', 'not an address'], '--confirm-with: '],
    ] as const) {
      const r = await runCli(['get', f.oid, '--node', at(3, 0), '-o', out, ...extra])
      expect({ status: r.status, stderr: r.stderr }).toEqual({
        status: 2,
        stderr: expect.stringContaining(`error [INVALID_ARGUMENT]: ${message}`),
      })
    }
    expect(await readdir(dir)).toEqual([])
  })
})
