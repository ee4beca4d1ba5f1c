import type { Libp2p } from '@libp2p/interface'
import { QfsClient } from '../../src/sdk/client.js'
import type { EngineHarness } from '../engine/harness.js'
import { type Libp2pNetwork, libp2pHarness } from '../net/harness.js'

/** A node's dial address with its peer id, as a user would copy it from `qfs-node status`. */
export function nodeAddress(net: Libp2pNetwork, nodeId: string): string {
  const addr = net.libp2p.get(nodeId)!.getMultiaddrs()[0]!.toString()
  return addr.includes('/p2p/') ? addr : `${addr}/p2p/${nodeId}`
}

/** A libp2p test network of `count` nodes and one client of its first node, dialling from its outsider. */
export async function networkClient(count = 4): Promise<{ net: Libp2pNetwork; client: QfsClient }> {
  const net = await libp2pHarness(count)
  const client = await QfsClient.create({
    node: nodeAddress(net, net.nodeIds[0]!),
    libp2p: net.outsider,
    timeouts: { requestMs: 5_000, idleMs: 5_000 },
  })
  return { net, client }
}

/**
 * The libp2p test network seen through the SDK: `engine(nodeId)` is a QfsClient, dialling from the
 * network's outsider node, whose coordinator is that node. Down/log delegate to the network.
 */
export async function clientHarness(
  count = 5,
  dialer?: (net: Libp2pNetwork) => Libp2p,
): Promise<EngineHarness & { net: Libp2pNetwork; clients: Map<string, QfsClient> }> {
  const net = await libp2pHarness(count)
  const clients = new Map<string, QfsClient>()
  for (const id of net.nodeIds) {
    clients.set(
      id,
      await QfsClient.create({
        node: nodeAddress(net, id),
        libp2p: dialer?.(net) ?? net.outsider,
        timeouts: { requestMs: 5_000, idleMs: 5_000 },
      }),
    )
  }
  return {
    net,
    clients,
    nodeIds: net.nodeIds,
    engine: (id) => clients.get(id)!,
    setDown: (id, down) => net.setDown(id, down),
    tamper: net.tamper,
    logEntries: (id) => net.logEntries(id),
    close: async () => {
      for (const c of clients.values()) await c.close()
      await net.close()
    },
  }
}
