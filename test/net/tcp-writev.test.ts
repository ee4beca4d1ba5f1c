import type { Socket } from 'node:net'
import type { Upgrader } from '@libp2p/interface'
import { defaultLogger } from '@libp2p/logger'
import { multiaddr } from '@multiformats/multiaddr'
import { Uint8ArrayList } from 'uint8arraylist'
import { describe, expect, it } from 'vitest'
import { coalesceSends, coalescingTcp } from '../../src/net/tcp-writev.js'

/** A socket that records what the wrapper does to it; `write` answers as `room` says. */
class RecordingSocket {
  calls: string[] = []
  room = true
  cork(): void {
    this.calls.push('cork')
  }
  uncork(): void {
    this.calls.push('uncork')
  }
  write(buf: Uint8Array): boolean {
    this.calls.push(`write ${buf.length}`)
    return this.room
  }
}

function connection(socket: object) {
  const original = (_data: Uint8ArrayList) => ({ sentBytes: 0, canSendMore: true })
  return { socket: socket as unknown as Socket, sendData: original, original }
}

const tick = () => new Promise<void>((r) => process.nextTick(r))

describe('coalescingTcp (net/tcp-writev.ts)', () => {
  it("corks a tick's sends and flushes them together, then corks again on the next tick", async () => {
    const socket = new RecordingSocket()
    const conn = coalesceSends(connection(socket))
    expect(conn.sendData).not.toBe(conn.original)
    expect(conn.sendData(new Uint8ArrayList(new Uint8Array(2), new Uint8Array(30)))).toEqual({
      sentBytes: 32,
      canSendMore: true,
    })
    conn.sendData(new Uint8ArrayList(new Uint8Array(5)))
    expect(socket.calls).toEqual(['cork', 'write 2', 'write 30', 'write 5'])
    await tick()
    expect(socket.calls.at(-1)).toBe('uncork')
    socket.calls.length = 0
    conn.sendData(new Uint8ArrayList(new Uint8Array(7)))
    expect(socket.calls).toEqual(['cork', 'write 7'])
    await tick()
    expect(socket.calls).toEqual(['cork', 'write 7', 'uncork'])
  })

  it('reports what the socket says of its room after the last buffer', () => {
    const socket = new RecordingSocket()
    const conn = coalesceSends(connection(socket))
    socket.room = false
    expect(conn.sendData(new Uint8ArrayList(new Uint8Array(2), new Uint8Array(3)))).toEqual({
      sentBytes: 5,
      canSendMore: false,
    })
  })

  it('leaves a connection of another shape as the library made it', () => {
    const { cork: _, ...noCork } = { cork: 1, uncork: () => {}, write: () => true }
    for (const conn of [connection(noCork), connection(undefined as unknown as object)]) {
      const sendData = conn.sendData
      expect(coalesceSends(conn).sendData).toBe(sendData)
    }
    const noSend = { socket: new RecordingSocket() }
    expect(coalesceSends(noSend)).toEqual({ socket: new RecordingSocket() })
  })

  it("patches the connections @libp2p/tcp's listener and dialer hand to the upgrader", async () => {
    const seen: Array<{ direction: string; patched: boolean }> = []
    const conns: Array<{ socket: Socket }> = []
    const upgrader = {
      upgradeInbound: async (maConn: { socket: Socket }) => {
        conns.push(maConn)
        seen.push({ direction: 'inbound', patched: Object.hasOwn(maConn, 'sendData') })
      },
      upgradeOutbound: async (maConn: { socket: Socket }) => {
        conns.push(maConn)
        seen.push({ direction: 'outbound', patched: Object.hasOwn(maConn, 'sendData') })
        return {}
      },
    } as unknown as Upgrader
    const transport = coalescingTcp()({ logger: defaultLogger() } as never)
    const listener = transport.createListener({ upgrader } as never)
    await listener.listen(multiaddr('/ip4/127.0.0.1/tcp/0'))
    const addr = listener.getAddrs()[0]!
    try {
      await transport.dial(addr, { upgrader, signal: AbortSignal.timeout(5_000) } as never)
      await expect.poll(() => seen.length).toBe(2)
      expect(seen.sort((a, b) => a.direction.localeCompare(b.direction))).toEqual([
        { direction: 'inbound', patched: true },
        { direction: 'outbound', patched: true },
      ])
    } finally {
      for (const conn of conns) conn.socket.destroy()
      await listener.close()
    }
  })
})
