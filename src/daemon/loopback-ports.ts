import { randomInt } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { createServer, type Server } from 'node:net'
import { StartFailedError } from './errors.js'

/**
 * Free loopback ports for daemons that start later, chosen below the kernel's ephemeral range.
 *
 * Why below: a port the kernel hands to `listen(0)` lies inside the ephemeral range, which is also
 * where every outbound connection takes its source port. Between choosing such a port and the daemon
 * binding it, any dial on the machine (one daemon dialling another that is not up yet) can take it,
 * and the daemon then fails with EADDRINUSE. Ports below the range are never taken that way; only a
 * program that binds that very port explicitly can still race us.
 */

/** Linux's default `net.ipv4.ip_local_port_range` start, used when /proc does not say. */
export const DEFAULT_EPHEMERAL_FLOOR = 32_768

/** The lowest port chosen: above the ports common services and dev servers listen on. */
export const LOWEST_CHOSEN_PORT = 20_000

/** Candidates tried per port wanted before falling back to ports the kernel picks. */
const ATTEMPTS_PER_PORT = 64

export const EPHEMERAL_RANGE_PATH = '/proc/sys/net/ipv4/ip_local_port_range'

/** The first port of the ephemeral range in the text of `ip_local_port_range`, or undefined. */
export function parseEphemeralFloor(text: string): number | undefined {
  const match = /^\s*(\d{1,5})\s+(\d{1,5})\s*$/.exec(text)
  if (match === null) return undefined
  const low = Number(match[1])
  const high = Number(match[2])
  return low >= 1 && low <= high && high <= 65_535 ? low : undefined
}

/** The machine's ephemeral floor; DEFAULT_EPHEMERAL_FLOOR where /proc is absent or unreadable. */
export async function ephemeralFloor(path = EPHEMERAL_RANGE_PATH): Promise<number> {
  try {
    return parseEphemeralFloor(await readFile(path, 'utf8')) ?? DEFAULT_EPHEMERAL_FLOOR
  } catch {
    return DEFAULT_EPHEMERAL_FLOOR
  }
}

export interface ReservePortsOptions {
  /** Lowest port chosen (inclusive). Default LOWEST_CHOSEN_PORT. */
  low?: number
  /** First port not chosen. Default: the machine's ephemeral floor. */
  high?: number
  /** Picks a candidate in [low, high); default `crypto.randomInt`, so parallel runs rarely meet. */
  pick?: (low: number, high: number) => number
}

/**
 * `count` distinct ports on 127.0.0.1, each free when returned. Every candidate is bound and held
 * until all are found, so none is returned twice; then all are released for the daemons to bind.
 * When the range is too small or too crowded, the rest come from the kernel (`listen(0)`), as before.
 */
export async function reserveLoopbackPorts(count: number, opts: ReservePortsOptions = {}): Promise<number[]> {
  const low = opts.low ?? LOWEST_CHOSEN_PORT
  const high = opts.high ?? (await ephemeralFloor())
  const pick = opts.pick ?? randomInt
  const held: Server[] = []
  try {
    const usable = high - low >= 2 * count
    for (
      let attempts = 0;
      usable && held.length < count && attempts < ATTEMPTS_PER_PORT * count;
      attempts++
    ) {
      const server = await listenOn(pick(low, high))
      if (!(server instanceof Error)) held.push(server)
    }
    while (held.length < count) {
      const server = await listenOn(0)
      if (server instanceof Error) {
        throw new StartFailedError(`no free port on 127.0.0.1: ${server.message}`, { cause: server })
      }
      held.push(server)
    }
    return held.map((s) => (s.address() as { port: number }).port)
  } finally {
    await Promise.all(held.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))))
  }
}

/** A server listening on 127.0.0.1:`port`, or why that port cannot be bound. */
function listenOn(port: number): Promise<Server | Error> {
  return new Promise((resolve) => {
    const server = createServer()
    server.once('error', (err) => resolve(err))
    server.listen({ port, host: '127.0.0.1', exclusive: true }, () => resolve(server))
  })
}
