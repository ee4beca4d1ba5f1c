import { createCipheriv, createHash } from 'node:crypto'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { withBitswap } from '@helia/bitswap'
import { withLibp2pLight } from '@helia/libp2p'
import { type UnixFS, unixfs } from '@helia/unixfs'
import { identify } from '@libp2p/identify'
import { tcp } from '@libp2p/tcp'
import { multiaddr } from '@multiformats/multiaddr'
import { LevelBlockstore } from 'blockstore-level'
import { LevelDatastore } from 'datastore-level'
import { createHeliaLight } from 'helia'
import { CID } from 'multiformats/cid'

/**
 * One Helia node of the network benchmark (src/bench/net.ts), as its own process so Helia gets the
 * same multi-core layout as our daemons. The parent drives it over the IPC channel, one request at
 * a time. Configuration is explicit: LevelDB block and data stores (as our nodes), libp2p with TCP,
 * Noise and yamux (the same implementations our nodes use) and identify, no peer discovery, no DHT,
 * no bootstrap list, no HTTP routers or gateways; bitswap is the only block broker.
 */

type Request =
  | { op: 'start'; dir: string }
  | { op: 'dial'; multiaddrs: string[] }
  | { op: 'add'; seed: string; size: number }
  | { op: 'fetch'; cid: string }
  | { op: 'verify'; cid: string; sha256: string }
  | { op: 'stop' }

const CHUNK = 1024 * 1024

/**
 * The benchmark's content: AES-256-CTR keystream under a key derived from `seed` (random-looking,
 * incompressible, and the same bytes in every process that knows the seed).
 */
export function* seededContent(seed: string, size: number, chunk = CHUNK): Generator<Uint8Array> {
  const key = createHash('sha256').update(`qfs-net-bench:${seed}`).digest()
  const cipher = createCipheriv('aes-256-ctr', key, Buffer.alloc(16))
  const zeros = Buffer.alloc(chunk)
  for (let off = 0; off < size; off += chunk) {
    const n = Math.min(chunk, size - off)
    yield new Uint8Array(cipher.update(n === chunk ? zeros : zeros.subarray(0, n)))
  }
}

async function serve(): Promise<void> {
  let helia: Awaited<ReturnType<typeof startHelia>> | undefined
  let fs: UnixFS | undefined
  const handle = async (req: Request): Promise<unknown> => {
    switch (req.op) {
      case 'start': {
        helia = await startHelia(req.dir)
        fs = unixfs(helia)
        return {
          peer_id: helia.libp2p.peerId.toString(),
          multiaddrs: helia.libp2p.getMultiaddrs().map((a) => a.toString()),
        }
      }
      case 'dial': {
        await helia!.libp2p.dial(req.multiaddrs.map((a) => multiaddr(a)))
        return { peers: helia!.libp2p.getPeers().length }
      }
      case 'add': {
        // The bytes are made before the clock starts: the figure is Helia's add, not our generator.
        const chunks = [...seededContent(req.seed, req.size)]
        const t0 = performance.now()
        const cid = await fs!.addByteStream(chunks)
        return { cid: cid.toString(), ms: performance.now() - t0 }
      }
      case 'fetch': {
        // Every block is fetched over bitswap and kept in this node's blockstore (what a replica holds).
        const t0 = performance.now()
        let bytes = 0
        for await (const piece of fs!.cat(CID.parse(req.cid))) bytes += piece.length
        return { bytes, ms: performance.now() - t0 }
      }
      case 'verify': {
        const h = createHash('sha256')
        for await (const piece of fs!.cat(CID.parse(req.cid), { offline: true })) h.update(piece)
        return { ok: h.digest('hex') === req.sha256 }
      }
      case 'stop': {
        await helia?.stop()
        return { stopped: true }
      }
    }
  }
  process.on('message', (msg: { id: number; req: Request }) => {
    handle(msg.req).then(
      (result) => process.send!({ id: msg.id, result }),
      (err: Error) => process.send!({ id: msg.id, error: `${err.name}: ${err.message}` }),
    )
  })
  process.send!({ ready: true })
}

async function startHelia(dir: string) {
  const blockstore = new LevelBlockstore(join(dir, 'blocks'))
  const datastore = new LevelDatastore(join(dir, 'data'))
  await blockstore.open()
  await datastore.open()
  const light = createHeliaLight({ blockstore, datastore, routers: [], blockBrokers: [] })
  const helia = withBitswap(
    withLibp2pLight(light, {
      addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
      transports: [tcp()],
      connectionEncrypters: [noise()],
      streamMuxers: [yamux()],
      peerDiscovery: [],
      services: { identify: identify() },
    }),
  )
  await helia.start()
  return helia
}

if (process.send !== undefined) await serve()
