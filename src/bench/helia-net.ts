import { type ChildProcess, fork } from 'node:child_process'
import { createHash } from 'node:crypto'
import { fileURLToPath } from 'node:url'
import { seededContent } from './helia-node.js'

/** A Helia node in a child process (src/bench/helia-node.ts), driven one request at a time. */
export class HeliaProcess {
  readonly process: ChildProcess
  peerId = ''
  multiaddrs: string[] = []
  private next = 0
  private readonly waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>()

  private constructor(proc: ChildProcess) {
    this.process = proc
    proc.on('message', (msg: { id?: number; result?: unknown; error?: string }) => {
      if (msg.id === undefined) return
      const w = this.waiting.get(msg.id)
      this.waiting.delete(msg.id)
      if (msg.error !== undefined) w?.reject(new Error(msg.error))
      else w?.resolve(msg.result)
    })
    proc.on('exit', (code, signal) => {
      for (const w of this.waiting.values()) w.reject(new Error(`helia node exited (${signal ?? code})`))
      this.waiting.clear()
    })
  }

  static async spawn(dir: string): Promise<HeliaProcess> {
    const script = fileURLToPath(new URL('./helia-node.js', import.meta.url))
    const proc = fork(script, [], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] })
    await new Promise<void>((resolve, reject) => {
      proc.once('message', () => resolve())
      proc.once('exit', (code) => reject(new Error(`helia node exited during startup (${code})`)))
    })
    const node = new HeliaProcess(proc)
    const started = (await node.call({ op: 'start', dir })) as { peer_id: string; multiaddrs: string[] }
    node.peerId = started.peer_id
    node.multiaddrs = started.multiaddrs
    return node
  }

  call(req: Record<string, unknown>): Promise<unknown> {
    const id = this.next++
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject })
      this.process.send({ id, req })
    })
  }

  dial(other: HeliaProcess): Promise<unknown> {
    return this.call({
      op: 'dial',
      multiaddrs: other.multiaddrs.map((a) => `${a.includes('/p2p/') ? a : `${a}/p2p/${other.peerId}`}`),
    })
  }

  async add(seed: string, size: number): Promise<{ cid: string; ms: number }> {
    return (await this.call({ op: 'add', seed, size })) as { cid: string; ms: number }
  }

  async fetch(cid: string): Promise<{ bytes: number; ms: number }> {
    return (await this.call({ op: 'fetch', cid })) as { bytes: number; ms: number }
  }

  async verify(cid: string, sha256: string): Promise<boolean> {
    return ((await this.call({ op: 'verify', cid, sha256 })) as { ok: boolean }).ok
  }

  async stop(): Promise<void> {
    await this.call({ op: 'stop' }).catch(() => {})
    this.process.kill('SIGTERM')
  }
}

/** SHA-256 of the seeded content, to check what a Helia node holds after a fetch. */
export function seededSha256(seed: string, size: number): string {
  const h = createHash('sha256')
  for (const c of seededContent(seed, size)) h.update(c)
  return h.digest('hex')
}
