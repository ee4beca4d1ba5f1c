/**
 * `listen` and `announce` take only what the TCP-only node (and its TCP-only peers) can use:
 * `/<ip4|ip6|dns|dns4|dns6>/<host>/tcp/<port>`, optionally `/p2p/<id>`. Anything else is
 * INVALID_CONFIG at load, naming the field and its source, before the store is opened: a `/ws`,
 * `/tls/ws` or `/p2p-circuit` address used to pass and fail the start with START_FAILED.
 */
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { describe, expect, it } from 'vitest'
import { main } from '../../src/cli/main.js'
import { configFixture } from './config-fixture.js'
import { type ConfigRefusal, itRefuses } from './config-refusals.js'

const PEER = peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString()
const { load } = configFixture('listen')

const NOT_TCP = [
  '/ip4/127.0.0.1/tcp/0/ws',
  '/ip4/127.0.0.1/tcp/0/tls/ws',
  '/ip4/127.0.0.1/tcp/0/wss',
  '/ip4/127.0.0.1/tcp/0/p2p-circuit',
  `/ip4/127.0.0.1/tcp/4001/p2p/${PEER}/p2p-circuit`,
  '/ip4/127.0.0.1/udp/0/quic-v1',
  '/ip4/127.0.0.1',
  '/tcp/4001',
  '/dnsaddr/node.example',
  '/unix/tmp%2Fqfs.sock',
]

describe('listen and announce addresses', () => {
  const cases: ConfigRefusal[] = [
    ...NOT_TCP.map(
      (a): ConfigRefusal => [
        `listen ${a} (flag)`,
        async () => ({ flags: { listen: [a] } }),
        'listen',
        'flag',
      ],
    ),
    [
      'listen /ws (env)',
      async () => ({ env: { QFS_LISTEN: '/ip4/127.0.0.1/tcp/0,/ip4/127.0.0.1/tcp/0/ws' } }),
      'listen',
      'env',
    ],
    [
      'announce /ws (flag)',
      async () => ({ flags: { announce: ['/dns4/node.example/tcp/443/wss'] } }),
      'announce',
      'flag',
    ],
    [
      'announce /p2p-circuit (env)',
      async () => ({ env: { QFS_ANNOUNCE: '/ip4/10.0.0.1/tcp/4001/p2p-circuit' } }),
      'announce',
      'env',
    ],
  ]
  itRefuses(cases, load)

  it.each(NOT_TCP)('says why %s is refused and what is taken', async (a) => {
    const err = await load({ flags: { listen: [a] } }).catch((e: Error) => e)
    expect((err as Error).message).toBe(
      `listen (flag --listen): ${a} is not a TCP address (the node has the TCP transport only: /ip4|ip6|dns|dns4|dns6/<host>/tcp/<port>, optionally /p2p/<id>)`,
    )
  })

  it('takes IP and DNS TCP addresses, with or without /p2p/<id>', async () => {
    const listen = [
      '/ip4/127.0.0.1/tcp/0',
      '/ip6/::1/tcp/4001',
      '/dns4/localhost/tcp/4002',
      '/dns6/localhost/tcp/4003',
      '/dns/localhost/tcp/4004',
      `/ip4/127.0.0.1/tcp/4005/p2p/${PEER}`,
    ]
    const announce = ['/dns4/node.example/tcp/4001', `/ip4/203.0.113.7/tcp/4001/p2p/${PEER}`]
    const config = await load({ flags: { listen, announce } })
    expect(config.listen).toEqual(listen)
    expect(config.announce).toEqual(announce)
  })

  it('refuses a /ws listen address at `start` with exit 2, before anything starts', async () => {
    let err = ''
    const io = { stdout: () => {}, stderr: (t: string) => void (err += t), isTty: false }
    const status = await main(
      ['start', '--dir', '/nonexistent/qfs-node', '--listen', '/ip4/127.0.0.1/tcp/0/ws'],
      io,
    )
    expect(status).toBe(2)
    expect(err).toMatch(
      /^error \[INVALID_CONFIG\]: listen \(flag --listen\): \/ip4\/127\.0\.0\.1\/tcp\/0\/ws is not a TCP address/,
    )
  })
})
