import { type ChildProcess, execFileSync, spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { readdir, readFile } from 'node:fs/promises'
import { createServer, type Server, type Socket } from 'node:net'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

/**
 * bin/qfs-node.js on a system Node older than 22 re-runs itself on the Node 22 the project pins. The
 * wrapper must end the way the command ended: a command killed by a signal makes the wrapper die of
 * the same signal (a shell then reports 128 + its number and `qfs-node put f && next` stops), and
 * the signals sent to the wrapper reach the command.
 */

const BIN = fileURLToPath(new URL('../../bin/qfs-node.js', import.meta.url))
const PINNED = fileURLToPath(new URL('../../node_modules/node/bin/node', import.meta.url))
const SYSTEM_NODE = '/usr/bin/node'

function majorOf(node: string): number {
  if (!existsSync(node)) return 0
  return Number(execFileSync(node, ['-p', 'process.versions.node.split(".")[0]'], { encoding: 'utf8' }))
}
// The wrapper re-executes only under an older Node; this machine's system Node is 20.
const systemMajor = majorOf(SYSTEM_NODE)
const reexecs = systemMajor > 0 && systemMajor < 22 && existsSync(PINNED)

/** The pid of `parent`'s child process, once it has one (from /proc/<pid>/stat). */
async function childOf(parent: number): Promise<number> {
  for (let i = 0; i < 400; i++) {
    for (const entry of await readdir('/proc')) {
      if (!/^\d+$/.test(entry)) continue
      let stat: string
      try {
        stat = await readFile(`/proc/${entry}/stat`, 'utf8')
      } catch {
        continue
      }
      // Fields after the parenthesised command name: state, ppid, ...
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1])
      if (ppid === parent) return Number(entry)
    }
    await new Promise((r) => setTimeout(r, 25))
  }
  throw new Error(`process ${parent} started no child`)
}

describe.skipIf(!reexecs)('bin/qfs-node.js under the system Node 20', () => {
  // An HTTP "API" that accepts connections and never answers: `status` waits on it.
  let silent: Server
  let port: number
  const sockets: Socket[] = []

  beforeAll(async () => {
    silent = createServer((socket) => void sockets.push(socket))
    port = await new Promise<number>((resolve) =>
      silent.listen(0, '127.0.0.1', () => resolve((silent.address() as { port: number }).port)),
    )
  })
  afterAll(async () => {
    for (const s of sockets) s.destroy()
    await new Promise((resolve) => silent.close(resolve))
  })

  /** `qfs-node status` waiting on the silent API, through the wrapper; resolves with the command's pid. */
  async function waiting(): Promise<{
    wrapper: ChildProcess
    command: number
    exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
    /** What the wrapper and the command (which shares its stderr) wrote to stderr so far. */
    stderr: () => string
  }> {
    const connected = sockets.length
    const wrapper = spawn(
      SYSTEM_NODE,
      [BIN, 'status', '--api', `http://127.0.0.1:${port}`, '--timeout-ms', '60000'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    )
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      wrapper.once('exit', (code, signal) => resolve({ code, signal })),
    )
    let stderr = ''
    wrapper.stderr!.on('data', (chunk: Buffer) => {
      stderr += chunk.toString('utf8')
    })
    const command = await childOf(wrapper.pid!)
    // The command is waiting for its answer: its connection is open.
    while (sockets.length === connected) await new Promise((r) => setTimeout(r, 25))
    // Only now: between fork and exec the child's cmdline is still the wrapper's (a CI run read it there).
    expect(await readFile(`/proc/${command}/cmdline`, 'utf8')).toContain(PINNED)
    return { wrapper, command, exited, stderr: () => stderr }
  }

  it('dies of the signal that killed the command (here SIGTERM, sent to the command alone)', async () => {
    const run = await waiting()
    process.kill(run.command, 'SIGTERM')
    expect(await run.exited).toEqual({ code: null, signal: 'SIGTERM' })
  })

  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    it(`passes ${signal} on to the command and then dies of it`, async () => {
      const run = await waiting()
      run.wrapper.kill(signal)
      expect(await run.exited).toEqual({ code: null, signal })
      expect(() => process.kill(run.command, 0)).toThrow()
    })
  }

  it('stops the command when the wrapper dies without passing a signal on (SIGKILL)', async () => {
    const run = await waiting()
    run.wrapper.kill('SIGKILL')
    expect(await run.exited).toEqual({ code: null, signal: 'SIGKILL' })
    // The command's IPC channel ends with the wrapper: it stops as on SIGTERM, long before its 60 s wait.
    for (let i = 0; i < 200; i++) {
      try {
        process.kill(run.command, 0)
      } catch {
        // It said why it stopped, before the SIGTERM it sent itself.
        expect(run.stderr()).toContain(
          'qfs-node: the launcher (bin/qfs-node.js) is gone: stopping as on SIGTERM\n',
        )
        return
      }
      await new Promise((r) => setTimeout(r, 25))
    }
    process.kill(run.command, 'SIGKILL')
    throw new Error('the command outlived its wrapper by 5 s')
  })

  it('passes the exit status of a command that ends by itself', async () => {
    const wrapper = spawn(SYSTEM_NODE, [BIN, 'get', 'not-an-id', '--node', 'x', '-o', 'y'], {
      stdio: 'ignore',
    })
    const exited = await new Promise((resolve) =>
      wrapper.once('exit', (code, signal) => resolve({ code, signal })),
    )
    expect(exited).toEqual({ code: 2, signal: null })
  })
})
