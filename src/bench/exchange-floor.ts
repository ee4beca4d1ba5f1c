import { fork } from 'node:child_process'
import { performance } from 'node:perf_hooks'
import { fileURLToPath } from 'node:url'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { Stream } from '@libp2p/interface'
import { multiaddr } from '@multiformats/multiaddr'
import { createQfsLibp2p } from '../net/libp2p-node.js'
import { ECHO_ONCE_PROTOCOL, ECHO_PROTOCOL } from './echo-node.js'
import { cpuMs, latencyPercentiles, round } from './proc.js'

export interface ExchangeFloor {
  /** CPU of the asking and the answering process per exchange, and the exchange's latency. */
  cpu_ms_client: number
  cpu_ms_server: number
  p50_ms: number
  p99_ms: number
}

/**
 * What one request/response of `bytes` costs between two processes on this machine, with nothing
 * around it: over one open stream (as on the replica channel), and over a fresh stream each time
 * (as a client's public request). Every exchange of a small put or get pays at least this.
 */
export async function exchangeFloor(
  count: number,
  bytes = 4096,
): Promise<{ open_stream: ExchangeFloor; stream_per_exchange: ExchangeFloor }> {
  const script = fileURLToPath(new URL('./echo-node.js', import.meta.url))
  const child = fork(script, [], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] })
  const address = await new Promise<string>((resolve, reject) => {
    child.once('message', (m: { multiaddr: string }) => resolve(m.multiaddr))
    child.once('exit', (code) => reject(new Error(`echo node exited during startup (${code})`)))
  })
  const node = await createQfsLibp2p({ privateKey: await generateKeyPair('Ed25519'), listen: [] })
  const target = multiaddr(address)
  const message = new Uint8Array(bytes)
  const answered = (stream: Stream) =>
    new Promise<void>((resolve) => stream.addEventListener('message', () => resolve(), { once: true }))
  try {
    const open = await node.dialProtocol(target, ECHO_PROTOCOL)
    const overOpenStream = async () => {
      const answer = answered(open)
      open.send(message)
      await answer
    }
    const overNewStream = async () => {
      const stream = await node.dialProtocol(target, ECHO_ONCE_PROTOCOL)
      const answer = answered(stream)
      stream.send(message)
      await answer
      await stream.close()
    }
    const measure = async (exchange: () => Promise<void>): Promise<ExchangeFloor> => {
      for (let i = 0; i < Math.min(200, count); i++) await exchange()
      const server0 = cpuMs([child.pid!], false)
      const client0 = process.cpuUsage()
      const latencies: number[] = []
      for (let i = 0; i < count; i++) {
        const t = performance.now()
        await exchange()
        latencies.push(performance.now() - t)
      }
      const client = process.cpuUsage(client0)
      const server = cpuMs([child.pid!], false) - server0
      const latency = latencyPercentiles(latencies)
      return {
        cpu_ms_client: round((client.user + client.system) / 1000 / count, 2),
        cpu_ms_server: round(server / count, 2),
        p50_ms: latency.p50,
        p99_ms: latency.p99,
      }
    }
    return { open_stream: await measure(overOpenStream), stream_per_exchange: await measure(overNewStream) }
  } finally {
    await node.stop()
    child.disconnect()
  }
}
