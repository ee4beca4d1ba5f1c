import { readFileSync } from 'node:fs'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { createServer, type Server } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { prepareDevnet } from '../../src/daemon/devnet-plan.js'
import {
  DEFAULT_EPHEMERAL_FLOOR,
  ephemeralFloor,
  LOWEST_CHOSEN_PORT,
  parseEphemeralFloor,
  reserveLoopbackPorts,
} from '../../src/daemon/loopback-ports.js'

/** Ports for daemons that start later: below the range outbound connections take source ports from. */

let root: string
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'qfs-loopback-ports-'))
})
afterAll(async () => {
  if (root !== undefined) await rm(root, { recursive: true, force: true })
})

/** The floor read straight from /proc (first of the two numbers), independent of the parser. */
function procFloor(): number {
  try {
    return Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0])
  } catch {
    return DEFAULT_EPHEMERAL_FLOOR
  }
}

function listen(port: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen({ port, host: '127.0.0.1', exclusive: true }, () => resolve(server))
  })
}

async function closeAll(servers: Server[]): Promise<void> {
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))))
}

describe('parseEphemeralFloor', () => {
  it('takes the first of the two ports of ip_local_port_range, tab or space separated', () => {
    expect(parseEphemeralFloor('32768\t60999\n')).toBe(32768)
    expect(parseEphemeralFloor('1024 65535')).toBe(1024)
  })

  it('refuses text that is not a range of two ports, low first', () => {
    for (const text of ['', 'abc', '32768', '60999 32768', '0 100', '1024 65536', '32768 60999 7', '-1 5']) {
      expect(parseEphemeralFloor(text), text).toBeUndefined()
    }
  })
})

describe('ephemeralFloor', () => {
  it('reads the range file, and falls back to Linux’s default when it is missing or malformed', async () => {
    const file = join(root, 'range')
    await writeFile(file, '40000\t50000\n')
    expect(await ephemeralFloor(file)).toBe(40000)
    await writeFile(file, 'garbage')
    expect(await ephemeralFloor(file)).toBe(DEFAULT_EPHEMERAL_FLOOR)
    expect(await ephemeralFloor(join(root, 'absent'))).toBe(DEFAULT_EPHEMERAL_FLOOR)
  })
})

describe('reserveLoopbackPorts', () => {
  it('returns distinct ports below the ephemeral range that can all be bound at once', async () => {
    const floor = procFloor()
    const ports = await reserveLoopbackPorts(10)
    expect(new Set(ports).size).toBe(10)
    for (const port of ports) {
      expect(port).toBeGreaterThanOrEqual(LOWEST_CHOSEN_PORT)
      expect(port).toBeLessThan(floor)
    }
    await closeAll(await Promise.all(ports.map(listen)))
  })

  it('skips a port another program holds, and never returns one port twice', async () => {
    const [held, spare] = await reserveLoopbackPorts(2)
    const blocker = await listen(held!)
    try {
      // The picker offers the held port, then the spare one again and again: one call may take it.
      let calls = 0
      const pick = () => (calls++ === 0 ? held! : spare!)
      const ports = await reserveLoopbackPorts(2, { pick })
      expect(ports[0]).toBe(spare)
      expect(ports).not.toContain(held)
      expect(ports[1]).not.toBe(spare)
      // The second came from the kernel after the bounded attempts, as before this module.
      expect(ports[1]).toBeGreaterThanOrEqual(procFloor())
    } finally {
      await closeAll([blocker])
    }
  })

  it('asks the kernel for every port when the range cannot hold them', async () => {
    let calls = 0
    const ports = await reserveLoopbackPorts(3, {
      low: 30_000,
      high: 30_005,
      pick: () => {
        calls++
        return 30_000
      },
    })
    expect(calls).toBe(0)
    expect(new Set(ports).size).toBe(3)
    await closeAll(await Promise.all(ports.map(listen)))
  })
})

describe('a new devnet', () => {
  it('listens and serves its API below the ephemeral range', async () => {
    const plan = await prepareDevnet({ dir: join(root, 'devnet'), nodes: 3 })
    const ports = plan.nodes.flatMap((n) => [n.tcpPort, n.apiPort])
    expect(new Set(ports).size).toBe(6)
    for (const port of ports) expect(port).toBeLessThan(procFloor())
  })
})
