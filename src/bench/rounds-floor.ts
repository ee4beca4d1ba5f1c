import { type ChildProcess, fork } from 'node:child_process'
import { performance } from 'node:perf_hooks'
import { fileURLToPath } from 'node:url'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { Stream } from '@libp2p/interface'
import { multiaddr } from '@multiformats/multiaddr'
import { DAEMON_NODE_ARGS } from '../daemon/devnet.js'
import { createQfsLibp2p } from '../net/libp2p-node.js'
import { cpuMs, latencyPercentiles, round } from './proc.js'
import { frame, PUT_ANSWER_BYTES, PUT_PROTOCOL } from './round-frames.js'

export interface RoundsFloor {
  rounds: number
  puts: number
  p50_ms: number
  p99_ms: number
  /** CPU per put of the asking process (the client) and of the five node processes together. */
  cpu_ms_client: number
  cpu_ms_nodes: number
}

export interface RoundsFloorRun {
  results: RoundsFloor[]
  /** What the processes report they served: puts at the coordinator, frames at each peer. */
  served: { coordinator: number; peers: number[] }
}

interface Child {
  process: ChildProcess
  address: string
}

const ROUND_NODE = fileURLToPath(new URL('./round-node.js', import.meta.url))

async function startChild(
  script: string,
  role: 'peer' | 'coordinator',
  peers?: readonly Child[],
): Promise<Child> {
  // The daemons' own V8 settings, so the collector runs as it does for them.
  const child = fork(script, [role], {
    execArgv: [...DAEMON_NODE_ARGS],
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  })
  const next = <T>() =>
    new Promise<T>((resolve, reject) => {
      child.once('message', (m: T) => resolve(m))
      child.once('exit', (code) => reject(new Error(`${role} exited during startup (${code})`)))
    })
  const { multiaddr: address } = await next<{ multiaddr: string }>()
  if (peers !== undefined) {
    const connected = next<{ connected: boolean }>()
    child.send({ peers: peers.map((p) => p.address) })
    await connected
  }
  return { process: child, address }
}

function servedBy(child: Child): Promise<number> {
  return new Promise((resolve) => {
    child.process.once('message', (m: { served: number }) => resolve(m.served))
    child.process.send({ report: true })
  })
}

/**
 * The floor of a small put's shape on this machine: a client puts `objectBytes` on a fresh stream
 * to a coordinator process, which runs `rounds` rounds with four peer processes (one frame to each
 * over a long-lived stream and the wait for all four acknowledgements) and answers. Six processes,
 * as a put through a 5-node devnet, with nothing but the libp2p stack in them. Each round count
 * runs in blocks of `block` puts taken in turn, so a slow minute of the machine falls on all of
 * them alike; `warmup` puts of each count come first.
 */
export async function roundsFloor(opts: {
  roundCounts: readonly number[]
  puts: number
  block: number
  warmup: number
  objectBytes?: number
  /** The compiled `round-node.js` (tests run this module from source, which cannot be forked). */
  nodeScript?: string
}): Promise<RoundsFloorRun> {
  const script = opts.nodeScript ?? ROUND_NODE
  const peers = await Promise.all(Array.from({ length: 4 }, () => startChild(script, 'peer')))
  const coordinator = await startChild(script, 'coordinator', peers)
  const pids = [coordinator, ...peers].map((c) => c.process.pid!)
  const client = await createQfsLibp2p({ privateKey: await generateKeyPair('Ed25519'), listen: [] })
  const target = multiaddr(coordinator.address)
  const objectBytes = opts.objectBytes ?? 4096
  try {
    const put = async (rounds: number) => {
      const request = frame(1 + objectBytes)
      request[4] = rounds
      const stream: Stream = await client.dialProtocol(target, PUT_PROTOCOL)
      const answered = new Promise<void>((resolve) => {
        let got = 0
        stream.addEventListener('message', (evt) => {
          got += evt.data.byteLength
          if (got >= PUT_ANSWER_BYTES) resolve()
        })
      })
      stream.send(request)
      await answered
      await stream.close()
    }
    for (const rounds of opts.roundCounts) for (let i = 0; i < opts.warmup; i++) await put(rounds)
    const latencies = new Map(opts.roundCounts.map((r) => [r, [] as number[]]))
    const cpu = new Map(opts.roundCounts.map((r) => [r, { client: 0, nodes: 0 }]))
    for (let done = 0; done < opts.puts; done += opts.block) {
      const n = Math.min(opts.block, opts.puts - done)
      for (const rounds of opts.roundCounts) {
        const nodes0 = cpuMs(pids, false)
        const client0 = process.cpuUsage()
        for (let i = 0; i < n; i++) {
          const t = performance.now()
          await put(rounds)
          latencies.get(rounds)!.push(performance.now() - t)
        }
        const clientUsage = process.cpuUsage(client0)
        const spent = cpu.get(rounds)!
        spent.client += (clientUsage.user + clientUsage.system) / 1000
        spent.nodes += cpuMs(pids, false) - nodes0
      }
    }
    const results = opts.roundCounts.map((rounds) => {
      const latency = latencyPercentiles(latencies.get(rounds)!)
      const spent = cpu.get(rounds)!
      return {
        rounds,
        puts: opts.puts,
        p50_ms: latency.p50,
        p99_ms: latency.p99,
        cpu_ms_client: round(spent.client / opts.puts, 2),
        cpu_ms_nodes: round(spent.nodes / opts.puts, 2),
      }
    })
    const served = {
      coordinator: await servedBy(coordinator),
      peers: await Promise.all(peers.map(servedBy)),
    }
    return { results, served }
  } finally {
    await client.stop()
    for (const child of [coordinator, ...peers]) child.process.disconnect()
  }
}
