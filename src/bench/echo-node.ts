import { generateKeyPair } from '@libp2p/crypto/keys'
import type { Stream } from '@libp2p/interface'
import { createQfsLibp2p } from '../net/libp2p-node.js'

/**
 * A libp2p node (the daemon's own configuration) that echoes what it is sent, run as a child
 * process of bench:floor so a request/response is timed between two processes, as between nodes.
 * `ECHO_PROTOCOL` echoes every message of a long-lived stream; `ECHO_ONCE_PROTOCOL` echoes one
 * message and closes (a stream per exchange). Sends its multiaddr over IPC, stops when the parent
 * disconnects.
 */
export const ECHO_PROTOCOL = '/qfs/bench/echo/1.0.0'
export const ECHO_ONCE_PROTOCOL = '/qfs/bench/echo-once/1.0.0'

async function serve(): Promise<void> {
  const node = await createQfsLibp2p({
    privateKey: await generateKeyPair('Ed25519'),
    listen: ['/ip4/127.0.0.1/tcp/0'],
  })
  await node.handle(ECHO_PROTOCOL, (stream: Stream) => {
    stream.addEventListener('message', (evt) => {
      stream.send(evt.data)
    })
  })
  await node.handle(ECHO_ONCE_PROTOCOL, (stream: Stream) => {
    stream.addEventListener(
      'message',
      (evt) => {
        stream.send(evt.data)
        stream.close().catch(() => {})
      },
      { once: true },
    )
  })
  process.once('disconnect', () => {
    Promise.resolve(node.stop()).finally(() => process.exit(0))
  })
  process.send!({ multiaddr: node.getMultiaddrs()[0]!.toString() })
}

if (process.send !== undefined) await serve()
