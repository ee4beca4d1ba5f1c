import { appendFile, mkdtemp, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parseReadyLine, waitForReadyLine } from '../../src/daemon/ready-line.js'

const READY = {
  event: 'ready',
  node_id: 'n1',
  multiaddrs: ['/ip4/127.0.0.1/tcp/1'],
  api: 'http://127.0.0.1:2',
}

let root: string
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'qfs-ready-line-'))
})
afterAll(async () => {
  if (root !== undefined) await rm(root, { recursive: true, force: true })
})

describe('parseReadyLine', () => {
  it('takes the ready event only, with every field of the right type', () => {
    expect(parseReadyLine(JSON.stringify(READY))).toEqual({
      node_id: 'n1',
      multiaddrs: ['/ip4/127.0.0.1/tcp/1'],
      api: 'http://127.0.0.1:2',
    })
    // A log line that mentions "ready" and carries the same fields is no ready event.
    expect(parseReadyLine(JSON.stringify({ ...READY, event: 'not-ready', msg: 'ready' }))).toBeUndefined()
    expect(parseReadyLine(JSON.stringify({ ...READY, event: undefined, msg: 'ready' }))).toBeUndefined()
    expect(parseReadyLine(JSON.stringify({ ...READY, node_id: 7 }))).toBeUndefined()
    expect(parseReadyLine(JSON.stringify({ ...READY, api: null }))).toBeUndefined()
    expect(parseReadyLine(JSON.stringify({ ...READY, multiaddrs: '/ip4/127.0.0.1/tcp/1' }))).toBeUndefined()
    expect(
      parseReadyLine(JSON.stringify({ ...READY, multiaddrs: ['/ip4/127.0.0.1/tcp/1', 1] })),
    ).toBeUndefined()
    expect(parseReadyLine('{"event":"ready"')).toBeUndefined()
  })
})

describe('waitForReadyLine', () => {
  it('reads from the offset on: a ready line before it is an earlier run', async () => {
    const path = join(root, 'offset.log')
    await writeFile(path, `${JSON.stringify(READY)}\n`)
    const offset = (await stat(path)).size
    const stop = new AbortController()
    const waiting = waitForReadyLine(path, offset, stop.signal)
    await new Promise((r) => setTimeout(r, 100))
    // A line written in two pieces, after a line that is not the ready one.
    await appendFile(
      path,
      `{"level":"info","msg":"starting"}\n${JSON.stringify({ ...READY, node_id: 'n2' }).slice(0, 20)}`,
    )
    await new Promise((r) => setTimeout(r, 60))
    await appendFile(path, `${JSON.stringify({ ...READY, node_id: 'n2' }).slice(20)}\n`)
    expect(await waiting).toMatchObject({ node_id: 'n2' })
  })

  it('answers undefined once its signal aborts', async () => {
    const path = join(root, 'silent.log')
    await writeFile(path, '')
    const stop = new AbortController()
    const waiting = waitForReadyLine(path, 0, stop.signal)
    await new Promise((r) => setTimeout(r, 50))
    stop.abort()
    expect(await waiting).toBeUndefined()
  })
})
