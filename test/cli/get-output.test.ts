import { execFileSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { lstat, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { fixture, honestRead, type StubNode, stubNode } from '../sdk/stub.js'
import { runCli } from './run.js'

const MIB = 1024 * 1024

/**
 * `qfs-node get -o FILE` never overwrites or deletes a file it did not create: the content goes to a
 * fresh temporary file (opened with `wx`) beside FILE, which takes FILE's name only once verified;
 * an existing FILE needs --force.
 */
describe('qfs-node get -o FILE', () => {
  let stub: StubNode
  let root: string
  let n = 0
  const f = fixture('cli-get-output', 2 * MIB + 11)
  const honest = honestRead(f)
  const lying = () => {
    const tampered = Uint8Array.from(f.content)
    tampered[MIB] = tampered[MIB]! ^ 0x01
    return { ...honest, data: [tampered] }
  }

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'qfs-get-out-'))
  })
  // A stub per test: libp2p refuses more than 5 inbound connections a second from one host, and
  // every `get` is a new client node.
  beforeEach(async () => {
    stub = await stubNode(2200 + n)
    stub.behaviour.read = () => honest
  })
  afterEach(async () => {
    await stub?.close()
  })
  afterAll(async () => {
    if (root !== undefined) await rm(root, { recursive: true, force: true })
  })

  /** A fresh directory per case, so "nothing else is left" is a listing. */
  async function caseDir(): Promise<string> {
    const dir = join(root, `case-${n++}`)
    await mkdir(dir)
    return dir
  }
  const get = (out: string, ...extra: string[]) =>
    runCli(['get', f.oid, '--version', '1', '--node', stub.address, '-o', out, ...extra])

  it('writes FILE and leaves nothing else behind', async () => {
    const dir = await caseDir()
    const out = join(dir, 'out.bin')
    const r = await get(out)
    expect(r.status).toBe(0)
    expect(Buffer.from(await readFile(out)).equals(f.content)).toBe(true)
    expect(await readdir(dir)).toEqual(['out.bin'])
  })

  it('refuses an existing FILE without --force, before reading anything, and keeps it', async () => {
    const dir = await caseDir()
    const out = join(dir, 'mine.txt')
    await writeFile(out, 'precious')
    let asked = 0
    stub.behaviour.read = () => {
      asked++
      return honest
    }
    const r = await get(out)
    stub.behaviour.read = () => honest
    expect(r.status).toBe(2)
    expect(r.stderr).toMatch(/^error \[INVALID_ARGUMENT\]: .*already exists.*--force/)
    expect(asked).toBe(0)
    expect(await readFile(out, 'utf8')).toBe('precious')
    expect(await readdir(dir)).toEqual(['mine.txt'])
  })

  it('replaces an existing FILE with --force, only once the content verified', async () => {
    const dir = await caseDir()
    const out = join(dir, 'mine.bin')
    await writeFile(out, 'old')
    stub.behaviour.read = lying
    const bad = await get(out, '--force')
    stub.behaviour.read = () => honest
    expect(bad.status).toBe(1)
    expect(bad.stderr).toMatch(/^error \[INTEGRITY_MISMATCH\]: /)
    expect(await readFile(out, 'utf8')).toBe('old')
    expect(await readdir(dir)).toEqual(['mine.bin'])
    const good = await get(out, '--force')
    expect(good.status).toBe(0)
    expect(Buffer.from(await readFile(out)).equals(f.content)).toBe(true)
    expect(await readdir(dir)).toEqual(['mine.bin'])
  })

  it('refuses --force over anything but a file (a FIFO, a directory), before reading anything', async () => {
    const dir = await caseDir()
    const fifo = join(dir, 'pipe')
    execFileSync('mkfifo', [fifo])
    const sub = join(dir, 'sub')
    await mkdir(sub)
    let asked = 0
    stub.behaviour.read = () => {
      asked++
      return honest
    }
    for (const out of [fifo, sub]) {
      const r = await get(out, '--force')
      expect(r.status).toBe(2)
      expect(r.stderr).toMatch(/^error \[INVALID_ARGUMENT\]: .*not a regular file/)
    }
    stub.behaviour.read = () => honest
    expect(asked).toBe(0)
    expect((await lstat(fifo)).isFIFO()).toBe(true)
    expect((await lstat(sub)).isDirectory()).toBe(true)
    expect((await readdir(dir)).sort()).toEqual(['pipe', 'sub'])
  })

  it('reports a FILE in a directory that does not exist as IO_ERROR, with the OS reason', async () => {
    const dir = await caseDir()
    const r = await get(join(dir, 'missing', 'out.bin'))
    expect(r.status).toBe(3)
    expect(r.stderr).toMatch(/^error \[IO_ERROR\]: ENOENT: /)
    expect(await readdir(dir)).toEqual([])
  })

  it('never writes or removes FILE.partial or any other file it did not create', async () => {
    const dir = await caseDir()
    const out = join(dir, 'data.bin')
    // The names the old implementation wrote to and removed.
    await writeFile(`${out}.partial`, 'someone else')
    stub.behaviour.read = lying
    expect((await get(out)).status).toBe(1)
    stub.behaviour.read = () => honest
    expect(existsSync(out)).toBe(false)
    expect(await readFile(`${out}.partial`, 'utf8')).toBe('someone else')
    expect((await get(out)).status).toBe(0)
    expect(await readFile(`${out}.partial`, 'utf8')).toBe('someone else')
    expect((await readdir(dir)).sort()).toEqual(['data.bin', 'data.bin.partial'])
  })

  it('does not replace a FILE that appeared while the content was being read', async () => {
    const dir = await caseDir()
    const out = join(dir, 'late.bin')
    stub.behaviour.read = () => {
      // Another program creates FILE after get's first check, before the content is verified.
      void writeFile(out, 'theirs', { flag: 'wx' })
      return honest
    }
    const r = await get(out)
    stub.behaviour.read = () => honest
    expect(r.status).toBe(2)
    expect(r.stderr).toMatch(/already exists/)
    expect(await readFile(out, 'utf8')).toBe('theirs')
    expect(await readdir(dir)).toEqual(['late.bin'])
  })
})
