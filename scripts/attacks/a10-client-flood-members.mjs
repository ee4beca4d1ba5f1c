// Clients from several loopback addresses hold as many inbound connections on n1 as it accepts
// (libp2p's force dial: one identity per address, CONNS_PER_ADDR connections each); then n2 is
// restarted, so the nodes must connect to it (and it to n1) anew, and writes through n2 and reads
// through n3 must still succeed while the clients hold on. Checks that a further client is refused
// (the clients' room is full) and that n1 takes clients again once they let go.
// Usage: npx node scripts/attacks/a10-client-flood-members.mjs   env ADDRS (6), CONNS_PER_ADDR (64), PUTS (8), DIR
import { generateKeyPair } from '@libp2p/crypto/keys'
import { multiaddr } from '@multiformats/multiaddr'
import { createQfsLibp2p } from '../../dist/net/libp2p-node.js'
import { fresh, log, meta, objectId, QfsClient, randomBytes, sleep, startDevnet } from './lib.mjs'

const ADDRS = Number(process.env.ADDRS ?? 6)
const PER = Number(process.env.CONNS_PER_ADDR ?? 64)
const PUTS = Number(process.env.PUTS ?? 8)
const devnet = await startDevnet(fresh(process.env.DIR ?? '/tmp/qfs-a10'), {}, { logLevel: 'warn' })
process.on('exit', () => devnet.killAllNow())
let failed = 0
const check = (ok, what) => {
  log(ok ? 'OK  ' : 'FAIL', what)
  if (!ok) failed++
}
try {
  const [n1, , n3] = devnet.nodes
  const ma = multiaddr(n1.multiaddrs[0])
  const clients = []
  let held = 0
  let refused = 0
  for (let a = 0; a < ADDRS; a++) {
    const c = await createQfsLibp2p({
      privateKey: await generateKeyPair('Ed25519'),
      listen: [],
      localAddress: `127.0.0.${a + 2}`,
    })
    clients.push(c)
    for (let i = 0; i < PER; i++) {
      try {
        await c.dial(ma, { force: true, signal: AbortSignal.timeout(5000) })
      } catch {
        refused++
      }
      if (i % 50 === 49) await sleep(600) // under the per-host rate
    }
    await sleep(300)
  }
  await sleep(1000)
  held = clients.reduce((n, c) => n + c.getConnections().filter((x) => x.status === 'open').length, 0)
  log(`clients hold ${held} connections on n1 (${refused} dials refused)`)
  check(held >= 290 && held <= 300, 'the clients hold (about) n1s client room, no more')

  const extra = await QfsClient.create({ node: n1.multiaddrs[0] }).catch((e) => e)
  let extraOk = false
  if (!(extra instanceof Error)) {
    const r = await extra.listObjects({ limit: 1 }).catch((e) => e)
    extraOk = r?.ok === true
    await extra.close()
  }
  check(!extraOk, 'a further client is refused by n1 while the room is full')

  await devnet.kill(2)
  await devnet.restart(2)
  await sleep(2000)
  const w = await QfsClient.create({ node: devnet.nodes[1].multiaddrs[0] })
  const r = await QfsClient.create({ node: n3.multiaddrs[0] })
  let puts = 0
  let reads = 0
  for (let i = 0; i < PUTS; i++) {
    const oid = objectId('a10', `o-${i}`)
    const body = randomBytes(200_000 + i)
    const p = await w.putContent(oid, 1, body, meta)
    if (p.ok) puts++
    else log('put failed', p.code, p.message ?? p.error_detail)
    const g = await r.getContent(oid, 1)
    if (g.ok && Buffer.compare(Buffer.from(g.content_bytes), body) === 0) reads++
    else log('read failed', g.code)
  }
  await w.close()
  await r.close()
  check(
    puts === PUTS && reads === PUTS,
    `writes through a restarted n2 and reads through n3: ${puts}/${PUTS} put, ${reads}/${PUTS} read`,
  )
  const st = await (await fetch(`${n1.api}/v1/status`)).json()
  log(`n1 store ${JSON.stringify(st.store)} peers ${st.peers}`)

  for (const c of clients) await c.stop()
  await sleep(2000)
  const again = await QfsClient.create({ node: n1.multiaddrs[0] })
  const l = await again.listObjects({ limit: 1 })
  await again.close()
  check(l.ok === true, 'n1 takes a client again once the others let go')
} finally {
  await devnet.stop()
}
log(failed === 0 ? 'PASS' : `${failed} check(s) failed`)
process.exit(failed === 0 ? 0 : 1)
