import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { generateKeyPair, generateKeyPairFromSeed } from '@libp2p/crypto/keys'
import type { Libp2p, PeerId, Stream } from '@libp2p/interface'
import { tcp } from '@libp2p/tcp'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'
import { MemoryLevel } from 'memory-level'
import { afterAll, beforeAll } from 'vitest'
import { toHex, utf8 } from '../../src/core/bytes.js'
import { QfsError } from '../../src/core/errors.js'
import { sha3 } from '../../src/core/hash.js'
import { DeterministicTime } from '../../src/core/time.js'
import type { AcceptanceKeys } from '../../src/engine/acceptance.js'
import { StorageEngine } from '../../src/engine/engine.js'
import { StaticMembership } from '../../src/membership/static.js'
import { peerAcceptanceKeys } from '../../src/net/acceptance-keys.js'
import type { FrameStream } from '../../src/net/frame-stream.js'
import type { Frame } from '../../src/net/frames.js'
import { createQfsLibp2p } from '../../src/net/libp2p-node.js'
import type { Limits } from '../../src/net/protocols.js'
import { type StorageProtocolService, storageProtocol } from '../../src/net/service.js'
import { Libp2pTransport } from '../../src/net/transport.js'
import { type LocalNode, openLocalNode } from '../../src/node/local-node.js'
import type { RootDb } from '../../src/store/index.js'
import type { EngineHarness, HarnessOptions } from '../engine/harness.js'
import { testAuditKey } from '../engine/harness.js'

export interface Libp2pNetwork extends EngineHarness {
  libp2p: Map<string, Libp2p>
  locals: Map<string, LocalNode>
  services: Map<string, StorageProtocolService>
  membership: StaticMembership
  /** A libp2p node outside the eligible set (a client, or an intruder). */
  outsider: Libp2p
}

/** A fixed key per index, so peer ids (node ids) are the same on every run. */
export async function testPeerKey(index: number) {
  return generateKeyPairFromSeed('Ed25519', sha3(utf8(`qfs-net-test-peer:${index}`)))
}

/**
 * The streams of `protocol` that `node` has open: to `peer` only, and of one direction only, when
 * named. Reset streams leave at once; tests wait on this to see what an exchange let go.
 */
export function openStreams(
  node: Libp2p,
  protocol: string,
  only: { peer?: PeerId; direction?: Stream['direction'] } = {},
): Stream[] {
  return node
    .getConnections(only.peer)
    .flatMap((c) => c.streams)
    .filter(
      (s) =>
        s.protocol === protocol &&
        s.status === 'open' &&
        (only.direction === undefined || s.direction === only.direction),
    )
}

/**
 * `count` real libp2p nodes on 127.0.0.1 in this process, each with its own LocalNode (memory-level),
 * one StaticMembership of their peer ids and multiaddrs, and a StorageEngine per node over
 * Libp2pTransport. "Down" unregisters a node's protocols and hangs up its connections: to its peers
 * it is a node that no longer answers, and it can come back on the same address.
 */
export interface Libp2pHarnessOptions extends HarnessOptions {
  /** Every node's idle timeout on streams (default 5 s), as transport, server and engine. */
  idleTimeoutMs?: number
  /** Passed to every engine (default: the engine's own). */
  preopenBytes?: number
  /** More limits for every node's protocol service. */
  serviceLimits?: Partial<Limits>
}

export async function libp2pHarness(count = 5, options: Libp2pHarnessOptions = {}): Promise<Libp2pNetwork> {
  const idleTimeoutMs = options.idleTimeoutMs ?? 5_000
  const libp2p = new Map<string, Libp2p>()
  const acceptanceKeys = new Map<string, AcceptanceKeys>()
  for (let i = 0; i < count; i++) {
    const privateKey = await testPeerKey(i)
    const node = await createQfsLibp2p({ privateKey, listen: ['/ip4/127.0.0.1/tcp/0'] })
    libp2p.set(node.peerId.toString(), node)
    acceptanceKeys.set(node.peerId.toString(), peerAcceptanceKeys(privateKey))
  }
  const outsider = await createQfsLibp2p({
    privateKey: await testPeerKey(1000),
    listen: ['/ip4/127.0.0.1/tcp/0'],
  })
  const membership = new StaticMembership({
    nodes: [...libp2p.entries()].map(([id, node]) => ({
      node_id: id,
      multiaddrs: node.getMultiaddrs().map((a) => a.toString()),
      mldsa_public_key: toHex(testAuditKey(id).publicKey),
    })),
  })
  const resolve = (id: string) =>
    (membership.current().nodes.get(id)?.multiaddrs ?? []).map((a) => multiaddr(a))
  const locals = new Map<string, LocalNode>()
  let tamper: Parameters<NonNullable<EngineHarness['tamper']>>[0]
  const engines = new Map<string, StorageEngine>()
  const services = new Map<string, StorageProtocolService>()
  for (const [nodeId, node] of libp2p) {
    const db = new MemoryLevel({ keyEncoding: 'view', valueEncoding: 'view' })
    await db.open()
    const local = await openLocalNode({
      nodeId,
      db: db as unknown as RootDb,
      auditKey: testAuditKey(nodeId),
      space: options.space?.(nodeId),
      membership,
      acceptanceKeys: acceptanceKeys.get(nodeId),
    })
    // Every block a node serves, to its own engine or over either replica protocol, comes through
    // its service's fetchShard: altering it there is a node whose disk serves other bytes.
    const fetchShard = local.service.fetchShard.bind(local.service)
    local.service.fetchShard = (shardId, fromBlock, opts) =>
      alteredBlocks(fetchShard(shardId, fromBlock, opts), (index, block) =>
        tamper === undefined ? block : tamper(nodeId, shardId, fromBlock + index, block),
      )
    const transport = new Libp2pTransport(
      { libp2p: node, resolve, local: local.service },
      { limits: { idleTimeoutMs, requestTimeoutMs: 5_000 } },
    )
    const engine = new StorageEngine(
      { nodeId, transport, membership, log: local.log, time: new DeterministicTime() },
      { timeouts: { requestMs: 5_000, streamIdleMs: idleTimeoutMs }, preopenBytes: options.preopenBytes },
    )
    const service = storageProtocol({
      node: local.service,
      engine,
      isEligiblePeer: (peer) => membership.current().eligible.has(peer),
      limits: { idleTimeoutMs, requestTimeoutMs: 5_000, ...options.serviceLimits },
    })({ registrar: node, logger: node.logger })
    await service.start()
    locals.set(nodeId, local)
    engines.set(nodeId, engine)
    services.set(nodeId, service)
  }
  return {
    nodeIds: membership.current().eligible.nodes.slice(),
    libp2p,
    locals,
    services,
    membership,
    outsider,
    engine: (id) => engines.get(id)!,
    setDown: async (id, down) => {
      const service = services.get(id)!
      if (down) {
        await service.stop()
        await Promise.all(
          libp2p
            .get(id)!
            .getConnections()
            .map((c) => c.close()),
        )
      } else {
        await service.start()
      }
    },
    tamper: (fn) => {
      tamper = fn
    },
    logEntries: (id) => locals.get(id)!.log.head().entries,
    close: async () => {
      for (const node of [...libp2p.values(), outsider]) await node.stop()
      for (const local of locals.values()) await local.close()
    },
  }
}

async function* alteredBlocks(
  blocks: AsyncIterable<Uint8Array>,
  alter: (index: number, block: Uint8Array) => Uint8Array,
): AsyncIterable<Uint8Array> {
  let index = 0
  for await (const block of blocks) yield alter(index++, block)
}

/** Every frame a stream delivers until it ends, and how it ended (the code of the read that threw). */
export async function drainFrames(fs: FrameStream): Promise<{ frames: Frame[]; end: string }> {
  const frames: Frame[] = []
  for (;;) {
    try {
      frames.push(await fs.read(AbortSignal.timeout(5_000)))
    } catch (err) {
      return { frames, end: err instanceof QfsError ? err.code : String(err) }
    }
  }
}

/**
 * One node as the daemon builds its libp2p (a fresh identity, on 127.0.0.1), and bare libp2p clients
 * of it: TCP, Noise and yamux with no service, so they answer `na` to any protocol they do not
 * handle. Call it inside a describe block: it starts the node before the block's tests and stops it
 * and every client after them. `node` is there once the block's tests run.
 */
export function nodeAndBareClients(): { readonly node: Libp2p; bareClient: () => Promise<Libp2p> } {
  let node: Libp2p | undefined
  const clients: Libp2p[] = []
  beforeAll(async () => {
    node = await createQfsLibp2p({
      privateKey: await generateKeyPair('Ed25519'),
      listen: ['/ip4/127.0.0.1/tcp/0'],
    })
  })
  afterAll(async () => {
    await Promise.all(clients.map((c) => c.stop()))
    await node?.stop()
  })
  return {
    get node(): Libp2p {
      if (node === undefined) throw new Error('the node starts before the tests of its describe block')
      return node
    },
    bareClient: async () => {
      const client = await createLibp2p({
        privateKey: await generateKeyPair('Ed25519'),
        transports: [tcp()],
        connectionEncrypters: [noise()],
        streamMuxers: [yamux()],
      })
      clients.push(client)
      return client
    },
  }
}
