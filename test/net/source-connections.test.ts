import { generateKeyPair } from '@libp2p/crypto/keys'
import type { MultiaddrConnection, PeerId } from '@libp2p/interface'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { describe, expect, it } from 'vitest'
import { type SourceConnectionLimits, sourceConnectionGater } from '../../src/net/source-connections.js'

/**
 * The inbound connection gater on its own (inbound-limits.test.ts runs it under libp2p): connections
 * here are stand-ins with an address, a status and a 'close' event, so each count can be driven to
 * its bound exactly.
 */

interface FakeConnection {
  maConn: MultiaddrConnection
  close(): void
}

function connection(ip: string): FakeConnection {
  const listeners: (() => void)[] = []
  const state = { status: 'open' }
  const maConn = {
    get status() {
      return state.status
    },
    remoteAddr: multiaddr(`/ip4/${ip}/tcp/4001`),
    addEventListener: (_type: string, listener: () => void) => listeners.push(listener),
  } as unknown as MultiaddrConnection
  return {
    maConn,
    close: () => {
      state.status = 'closed'
      for (const listener of listeners.splice(0)) listener()
    },
  }
}

const base: SourceConnectionLimits = {
  perHost: 100,
  pendingPerHost: 100,
  clients: 100,
  perMember: 100,
  isMember: () => false,
  pending: 100,
  memberPending: 0,
  membersAt: () => 0,
}

function gater(limits: Partial<SourceConnectionLimits>) {
  const g = sourceConnectionGater({ ...base, ...limits })
  return {
    /** Whether the connection is let in at its TCP accept. */
    accept: (c: FakeConnection) => g.denyInboundConnection!(c.maConn) === false,
    /** Whether it is let in once its handshake names `peer`. */
    named: (peer: PeerId, c: FakeConnection) => g.denyInboundEncryptedConnection!(peer, c.maConn) === false,
    /** Its upgrade ended. */
    upgraded: (peer: PeerId, c: FakeConnection) => g.denyInboundUpgradedConnection!(peer, c.maConn),
  }
}

const peer = async () => peerIdFromPrivateKey(await generateKeyPair('Ed25519'))

describe('sourceConnectionGater', () => {
  it('keeps at most memberPending upgrades in the slots kept for members, whatever each address may hold', () => {
    const g = gater({ pending: 1, memberPending: 2, perMember: 4, membersAt: () => 3 })
    expect(g.accept(connection('192.0.2.1'))).toBe(true) // the shared slot
    const member = ['198.51.100.1', '198.51.100.1', '198.51.100.2'].map(connection)
    expect(member.map(g.accept)).toEqual([true, true, false])
  })

  it('gives an upgrade slot back once the upgrade ends, not only once the connection closes', async () => {
    const g = gater({ pendingPerHost: 1 })
    const first = connection('192.0.2.1')
    expect(g.accept(first)).toBe(true)
    expect(g.accept(connection('192.0.2.1'))).toBe(false)
    g.upgraded(await peer(), first)
    expect(g.accept(connection('192.0.2.1'))).toBe(true)
  })

  it("gives a member's address its kept upgrade slot back once the upgrade ends", async () => {
    const g = gater({ pending: 0, memberPending: 10, perMember: 1, membersAt: () => 1 })
    const first = connection('198.51.100.1')
    expect(g.accept(first)).toBe(true)
    expect(g.accept(connection('198.51.100.1'))).toBe(false)
    g.upgraded(await peer(), first)
    expect(g.accept(connection('198.51.100.1'))).toBe(true)
  })

  it("counts a member's connections down as each closes", async () => {
    const id = await peer()
    const g = gater({ perMember: 2, isMember: (p) => p === id.toString() })
    const open = ['198.51.100.1', '198.51.100.2'].map(connection)
    for (const c of open) expect(g.accept(c) && g.named(id, c)).toBe(true)
    const third = connection('198.51.100.3')
    expect(g.accept(third) && g.named(id, third)).toBe(false)
    open[0]!.close()
    const again = connection('198.51.100.4')
    expect(g.accept(again) && g.named(id, again)).toBe(true)
  })

  it('refuses to name a connection that already closed: its count would never come back', async () => {
    const id = await peer()
    const g = gater({ perMember: 1, isMember: (p) => p === id.toString() })
    const gone = connection('198.51.100.1')
    expect(g.accept(gone)).toBe(true)
    gone.close()
    expect(g.named(id, gone)).toBe(false)
    const live = connection('198.51.100.1')
    expect(g.accept(live) && g.named(id, live)).toBe(true)
  })
})
