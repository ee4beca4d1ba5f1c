import { mkdtemp, readdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { CliIo } from '../../src/cli/io.js'
import { main } from '../../src/cli/main.js'
import { fixture, honestRead, type StubNode, stubNode } from '../sdk/stub.js'

const MIB = 1024 * 1024

/**
 * `get` on a terminal, interrupted while its progress bar is drawn: the bar is ended before the
 * interruption is said, so the last line on the terminal is that message, not a redrawn bar.
 */
describe('qfs-node get interrupted under its progress bar', () => {
  let stub: StubNode
  let dir: string
  const f = fixture('cli-get-bar', 6 * MIB + 5)

  beforeAll(async () => {
    stub = await stubNode(2400)
    stub.behaviour.read = () => honestRead(f, 256 * 1024)
    dir = await mkdtemp(join(tmpdir(), 'qfs-cli-get-bar-'))
  })
  afterAll(async () => {
    await stub?.close()
    if (dir !== undefined) await rm(dir, { recursive: true, force: true })
  })

  it('ends the bar, then prints the interruption as its last line', async () => {
    const out = join(dir, 'copy.bin')
    let stderr = ''
    let signalled = false
    const io: CliIo = {
      stdout: () => {},
      stderr: (text) => {
        stderr += text
        // The first drawing of the bar: Ctrl-C now (delivered as the process would deliver it).
        if (!signalled && text.includes('get v1 [')) {
          signalled = true
          process.emit('SIGINT', 'SIGINT')
        }
      },
      isTty: true,
    }
    const status = await main(['get', f.oid, '--version', '1', '--node', stub.address, '-o', out], io)
    expect(signalled).toBe(true)
    expect(status).toBe(130)
    const message = `interrupted (SIGINT): nothing written to ${out}\n`
    expect(stderr.endsWith(message)).toBe(true)
    // The bar was drawn and ended on a line of its own before the message, never after it.
    const before = stderr.slice(0, -message.length)
    expect(before).toMatch(/\rget v1 \[[#-]{30}\] +\d+% [\d.]+\/6\.0 MiB\n$/)
    expect(await readdir(dir)).toEqual([])
  })
})
