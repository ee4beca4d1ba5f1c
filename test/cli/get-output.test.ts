import { execFileSync, spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { access, lstat, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { constants, tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Stream } from '@libp2p/interface'
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { FrameStream } from '../../src/net/frame-stream.js'
import { MAX_FRAME_BYTES } from '../../src/net/frames.js'
import { PROTOCOLS } from '../../src/net/protocols.js'
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

  /** Runs `work` and says how many reads the node was asked for meanwhile (a refusal asks none). */
  async function countingReads<T>(work: () => Promise<T>): Promise<{ value: T; asked: number }> {
    let asked = 0
    stub.behaviour.read = () => {
      asked++
      return honest
    }
    try {
      return { value: await work(), asked }
    } finally {
      stub.behaviour.read = () => honest
    }
  }

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
    const { value: r, asked } = await countingReads(() => get(out))
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

  it('refuses anything but a file (a FIFO, a directory) with or without --force, before reading anything', async () => {
    const dir = await caseDir()
    const fifo = join(dir, 'pipe')
    execFileSync('mkfifo', [fifo])
    const sub = join(dir, 'sub')
    await mkdir(sub)
    const { asked } = await countingReads(async () => {
      for (const [out, what] of [
        [fifo, 'not a regular file'],
        [sub, 'a directory'],
      ] as const) {
        // No advice to pass --force where --force would not do either.
        for (const extra of [[], ['--force']]) {
          const r = await get(out, ...extra)
          expect(r.status).toBe(2)
          expect(r.stderr).toBe(
            `error [INVALID_ARGUMENT]: ${out} is ${what}: -o takes the path of a file to create (or, with --force, to replace)\n`,
          )
        }
      }
    })
    expect(asked).toBe(0)
    expect((await lstat(fifo)).isFIFO()).toBe(true)
    expect((await lstat(sub)).isDirectory()).toBe(true)
    expect((await readdir(dir)).sort()).toEqual(['pipe', 'sub'])
  })

  it('reports a FILE in a directory that does not exist as IO_ERROR naming FILE, before reading anything', async () => {
    const dir = await caseDir()
    const out = join(dir, 'missing', 'out.bin')
    const { value: r, asked } = await countingReads(() => get(out))
    expect(r.status).toBe(3)
    expect(r.stderr).toBe(`error [IO_ERROR]: cannot write ${out}: ENOENT (no such file or directory)\n`)
    expect(asked).toBe(0)
    expect(await readdir(dir)).toEqual([])
  })

  it('refuses -o - (standard output cannot wait for the content to verify), before reading anything', async () => {
    const dir = await caseDir()
    // From inside the case directory: a regression writes its file "-" there, not in the checkout.
    const cwd = process.cwd()
    process.chdir(dir)
    const { value: r, asked } = await countingReads(() =>
      runCli(['get', f.oid, '--version', '1', '--node', stub.address, '-o', '-']),
    ).finally(() => process.chdir(cwd))
    expect(r.status).toBe(2)
    expect(r.stderr).toMatch(/^error \[INVALID_ARGUMENT\]: -o -: .*never standard output.*\.\/-/)
    expect(r.stdout).toBe('')
    expect(asked).toBe(0)
    expect(await readdir(dir)).toEqual([])
    // A file that is really named "-" is written when given as a path.
    const named = await get(join(dir, '-'))
    expect(named.status).toBe(0)
    expect(await readdir(dir)).toEqual(['-'])
  })

  it('refuses an empty -o (an unset shell variable) as INVALID_ARGUMENT, before reading anything', async () => {
    const dir = await caseDir()
    // From inside the case directory: a regression's temporary file lands there, not in the checkout.
    const cwd = process.cwd()
    process.chdir(dir)
    const { value: r, asked } = await countingReads(() => get('')).finally(() => process.chdir(cwd))
    // Before: IO_ERROR, exit 3, "cannot write : ENOENT", as if a directory were missing.
    expect(r).toMatchObject({
      status: 2,
      stdout: '',
      stderr: 'error [INVALID_ARGUMENT]: -o is empty: give the path of the file to write\n',
    })
    expect(asked).toBe(0)
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

  it('with --force, does not replace a FIFO that appeared at FILE while the content was being read', async () => {
    const dir = await caseDir()
    const out = join(dir, 'late.fifo')
    stub.behaviour.read = () => {
      // FILE was nothing at get's first check; a FIFO is there by the time the content verified.
      execFileSync('mkfifo', [out])
      return honest
    }
    const r = await get(out, '--force')
    stub.behaviour.read = () => honest
    expect(r.stderr).toMatch(/^error \[INVALID_ARGUMENT\]: .*late\.fifo is not a regular file/)
    expect(r.status).toBe(2)
    expect((await lstat(out)).isFIFO()).toBe(true)
    expect(await readdir(dir)).toEqual(['late.fifo'])
  })
})

/**
 * An interrupted `get -o FILE` (Ctrl-C, SIGTERM, a closed terminal) removes its temporary file and
 * exits 128 + the signal's number. Run as a child process (the compiled CLI), against a node that
 * sends part of the content and then stalls, so the signal always lands mid-transfer.
 */
describe('qfs-node get -o FILE, interrupted', () => {
  const BIN = fileURLToPath(new URL('../../bin/qfs-node.js', import.meta.url))
  const f = fixture('cli-get-interrupted', 2 * MIB + 11)
  const honest = honestRead(f)
  let root: string
  let n = 0

  beforeAll(async () => {
    await access(fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url))).catch(() => {
      throw new Error('dist/ is missing: run `npm run build` first (npm test does)')
    })
    root = await mkdtemp(join(tmpdir(), 'qfs-get-int-'))
  })
  afterAll(async () => {
    if (root !== undefined) await rm(root, { recursive: true, force: true })
  })

  /** A stub whose read sends the header and the first pieces, then nothing until `close`. */
  async function stallingNode(): Promise<{ stub: StubNode; sent: Promise<void>; close(): Promise<void> }> {
    const stub = await stubNode(2300 + n)
    let sentPieces: () => void = () => {}
    const sent = new Promise<void>((resolve) => {
      sentPieces = resolve
    })
    let release: () => void = () => {}
    const released = new Promise<void>((resolve) => {
      release = resolve
    })
    await stub.node.unhandle(PROTOCOLS.read)
    await stub.node.handle(PROTOCOLS.read, async (stream: Stream) => {
      const fs = new FrameStream(stream, { maxFrameBytes: MAX_FRAME_BYTES, idleMs: 60_000 })
      try {
        await fs.readJson()
        await fs.writeJson(honest.header)
        for (const piece of honest.data.slice(0, 6)) await fs.writeData(piece)
        sentPieces()
        await released
      } catch {
        // The client went away: what this test causes.
      }
      fs.abort(new Error('stalled read over'))
    })
    return {
      stub,
      sent,
      close: async () => {
        release()
        await stub.close()
      },
    }
  }

  async function waitFor<T>(probe: () => Promise<T | undefined>, what: string): Promise<T> {
    for (let i = 0; i < 400; i++) {
      const v = await probe()
      if (v !== undefined) return v
      await new Promise((r) => setTimeout(r, 25))
    }
    throw new Error(`timed out waiting for ${what}`)
  }

  for (const [signal, status] of [
    ['SIGINT', 130],
    ['SIGTERM', 143],
    ['SIGHUP', 129],
  ] as const) {
    it(`on ${signal} removes its temporary file, writes no FILE and ends by the signal (a shell shows ${status})`, async () => {
      const dir = join(root, `case-${n++}`)
      await mkdir(dir)
      const node = await stallingNode()
      try {
        const out = join(dir, 'big.bin')
        const child = spawn(
          process.execPath,
          [BIN, 'get', f.oid, '--version', '1', '--node', node.stub.address, '-o', out],
          { stdio: ['ignore', 'pipe', 'pipe'] },
        )
        let stderr = ''
        child.stderr!.on('data', (d) => void (stderr += d))
        const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
          child.once('exit', (code, sig) => resolve({ code, signal: sig })),
        )
        await node.sent
        // Mid-transfer: the hidden temporary file holds part of the content.
        const partial = await waitFor(async () => {
          for (const name of await readdir(dir)) {
            if (/^\.big\.bin\.[0-9a-f]{16}\.partial$/.test(name) && (await stat(join(dir, name))).size > 0)
              return name
          }
          return undefined
        }, 'a non-empty .partial file')
        expect(partial).toBeDefined()
        child.kill(signal)
        // Cleaned up, then ended by the signal itself, so a shell sees it (a loop stops at Ctrl-C).
        expect(await exited).toEqual({ code: null, signal })
        expect(status).toBe(128 + constants.signals[signal])
        expect(stderr).toBe(`interrupted (${signal}): nothing written to ${out}\n`)
        expect(await readdir(dir)).toEqual([])
      } finally {
        await node.close()
      }
    })
  }
})
