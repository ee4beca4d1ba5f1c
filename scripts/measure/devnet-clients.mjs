// What the devnet measure scripts share: a 5-node devnet in a temporary directory, one client
// libp2p node, a writer client of node-1 and a reader client of node-2 (as `npm run bench:net`
// puts through node-1 and gets through node-2), all stopped and removed whatever `run` does.
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { Devnet } from '../../dist/daemon/devnet.js'
import { createQfsLibp2p } from '../../dist/net/libp2p-node.js'
import { QfsClient } from '../../dist/sdk/client.js'

/** `run({ devnet, writer, reader })`; `nodeArgs`, when given, are the daemons' Node options. */
export async function withDevnetClients(name, nodeArgs, run) {
  const work = await mkdtemp(join(tmpdir(), `${name}-`))
  const devnet = await Devnet.start({
    dir: join(work, 'devnet'),
    nodes: 5,
    logLevel: 'warn',
    ...(nodeArgs === undefined ? {} : { nodeArgs }),
  })
  try {
    const libp2p = await createQfsLibp2p({ privateKey: await generateKeyPair('Ed25519'), listen: [] })
    const writer = await QfsClient.create({ node: devnet.nodes[0].multiaddrs[0], libp2p })
    const reader = await QfsClient.create({ node: devnet.nodes[1].multiaddrs[0], libp2p })
    try {
      return await run({ devnet, writer, reader })
    } finally {
      await writer.close()
      await reader.close()
      await libp2p.stop()
    }
  } finally {
    await devnet.stop()
    await rm(work, { recursive: true, force: true })
  }
}
