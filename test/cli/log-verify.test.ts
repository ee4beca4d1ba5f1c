import { readFile, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { generateKeyPairFromSeed } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { sha3_256 } from '@noble/hashes/sha3.js'
import { bytesToHex } from '@noble/hashes/utils.js'
import { afterAll, describe, expect, it } from 'vitest'
import { toHex } from '../../src/core/bytes.js'
import { buildEvent, normalizeEventFields, type StorageEvent } from '../../src/log/event.js'
import { EventLog } from '../../src/log/event-log.js'
import { fileLogHeadRecord } from '../../src/log/head-record.js'
import { generateAuditKey } from '../../src/log/keys.js'
import { openLogSublevels, seqKey } from '../../src/log/log-store.js'
import { createSnapshot, signSnapshot } from '../../src/membership/snapshot.js'
import { openLocalNode } from '../../src/node/local-node.js'
import { networkWithHistory, removeNetworks, withDb } from './node-dirs.js'
import { runCli } from './run.js'

afterAll(removeNetworks)

async function verify(nodeDir: string, ...extra: string[]) {
  const r = await runCli(['log', 'verify', '--dir', nodeDir, ...extra, '--json'])
  return { status: r.status, stderr: r.stderr, verdict: r.stdout === '' ? null : JSON.parse(r.stdout) }
}

async function keyFileOf(nodeDir: string): Promise<{ seed: string; public_key: string }> {
  return JSON.parse(await readFile(join(nodeDir, 'audit-key.json'), 'utf8'))
}

/** Appends a linked, hashed entry with no key, as a crash before the checkpoint timer leaves one. */
async function appendUnsigned(nodeDir: string, detail: string): Promise<StorageEvent> {
  return withDb(nodeDir, async (db) => {
    const { events } = openLogSublevels(db)
    const [top] = await events.iterator({ reverse: true, limit: 1 }).all()
    const last = JSON.parse(top![1]) as StorageEvent
    const { event, stored } = buildEvent(
      normalizeEventFields({ event_type: 'READ', epoch: 0, timestamp_tick: 42, error_detail: detail }),
      { node_id: last.node_id, seq: last.seq + 1, prev_event_id: last.event_id },
    )
    await events.put(seqKey(event.seq), stored)
    return event
  })
}

/** Four fixed libp2p peer ids: a snapshot lists nodes by peer id (docs/protocol.md 1). */
const PEERS = await Promise.all(
  [0x11, 0x12, 0x13, 0x14].map(async (b) =>
    peerIdFromPrivateKey(await generateKeyPairFromSeed('Ed25519', new Uint8Array(32).fill(b))).toString(),
  ),
)

describe('qfs-node log verify: the key it checks against', () => {
  it('an expected key (--public-key, --snapshot) catches a history re-signed with another key', async () => {
    const [first, second] = PEERS as [string, string]
    const nodeDir = join(await networkWithHistory('verify-key', 3, PEERS), first)
    const real = await keyFileOf(nodeDir)
    const realHash = bytesToHex(sha3_256(Buffer.from(real.public_key, 'hex')))
    const authority = generateAuditKey(new Uint8Array(32).fill(0xa1))
    const snapshotOf = async (nodes: Array<[string, string]>, name: string) => {
      const body = createSnapshot({
        epoch: 0,
        startTick: 0,
        nodes: nodes.map(([node_id, mldsa_public_key]) => ({ node_id, multiaddrs: [], mldsa_public_key })),
        authorityPublicKey: authority.publicKey,
      })
      const path = join(nodeDir, '..', name)
      await writeFile(path, JSON.stringify(signSnapshot(body, authority)))
      return path
    }
    const snapshot = await snapshotOf([[first, real.public_key]], 'snapshot.json')
    const trust = ['--trust', toHex(authority.publicKey)]

    // The honest log passes whichever way the key is given, and the verdict says which key and whence.
    const byFile = await verify(nodeDir)
    expect(byFile).toMatchObject({ status: 0, verdict: { ok: true, code: null, key_source: 'key-file' } })
    expect(byFile.verdict.public_key_hash).toBe(realHash)
    expect(await verify(nodeDir, '--public-key', real.public_key)).toMatchObject({
      status: 0,
      verdict: { ok: true, key_source: 'public-key', public_key_hash: realHash },
    })
    expect(await verify(nodeDir, '--snapshot', snapshot, ...trust)).toMatchObject({
      status: 0,
      verdict: { ok: true, key_source: 'snapshot', public_key_hash: realHash },
    })

    // The forger drops entry 0, alters every other one, re-chains and re-signs with a key of their own.
    const attacker = generateAuditKey(new Uint8Array(32).fill(0xee))
    const forgedHead = await withDb(nodeDir, async (db) => {
      const { events, ckpts } = openLogSublevels(db)
      const old: StorageEvent[] = []
      for await (const v of events.values()) old.push(JSON.parse(v))
      await events.clear()
      await ckpts.clear()
      const log = new EventLog({ db, nodeId: first, key: attacker }, { checkpointDelayMs: 3_600_000 })
      await log.open()
      for (const e of old.slice(1)) {
        const { schema, node_id, seq, prev_event_id, event_id, pqc_signature, ...fields } = e
        await log.append(normalizeEventFields({ ...fields, content_size: (fields.content_size ?? 0) + 1 }))
      }
      await log.close()
      return log.head()
    })
    const keyFile = join(nodeDir, 'audit-key.json')
    const attackerHex = toHex(attacker.publicKey)

    // Their public key beside the node's seed: refused as the node's start refuses it.
    await writeFile(keyFile, JSON.stringify({ ...real, public_key: attackerHex }), { mode: 0o600 })
    const mixed = await verify(nodeDir)
    expect(mixed.status).toBe(3)
    expect(mixed.stderr).toMatch(/^error \[INVALID_KEY_FILE\]: .*public_key does not belong to the seed/)
    expect(mixed.verdict).toBeNull()

    // Against the node's real key the forgery fails, whatever the directory holds.
    const pinned = await verify(nodeDir, '--public-key', real.public_key)
    expect(pinned).toMatchObject({
      status: 1,
      verdict: { ok: false, code: 'WRONG_KEY', first_bad_seq: 0, public_key_hash: realHash },
    })

    // A consistent key file of their own: the directory alone cannot tell, but the verdict names the
    // key it trusted (not the registered one), and the snapshot's key fails it.
    await writeFile(keyFile, JSON.stringify({ ...real, seed: 'ee'.repeat(32), public_key: attackerHex }), {
      mode: 0o600,
    })
    // The head the node recorded beside its database is not in the forged log ...
    expect(await verify(nodeDir)).toMatchObject({ status: 1, verdict: { ok: false, code: 'HEAD_NOT_FOUND' } })
    // ... unless the forger rewrites that record too, as whoever writes the directory can.
    await fileLogHeadRecord(join(nodeDir, 'log-head.json'), first).write({
      checkpoint_seq: forgedHead.checkpoints - 1,
      last_seq: forgedHead.covered_entries - 1,
      checkpoint_id: forgedHead.last_checkpoint_id,
    })
    const own = await verify(nodeDir)
    expect(own.verdict).toMatchObject({ ok: true, key_source: 'key-file' })
    expect(own.verdict.public_key_hash).toBe(bytesToHex(sha3_256(attacker.publicKey)))
    expect(own.verdict.public_key_hash).not.toBe(realHash)
    expect(await verify(nodeDir, '--snapshot', snapshot, ...trust)).toMatchObject({
      status: 1,
      verdict: { ok: false, code: 'WRONG_KEY', key_source: 'snapshot', public_key_hash: realHash },
    })
    const text = await runCli(['log', 'verify', '--dir', nodeDir, '--public-key', real.public_key])
    expect(text.stdout.startsWith(`log of ${first} BROKEN at entry 0 [WRONG_KEY]: `)).toBe(true)
    expect(text.stdout).toContain(`key: ${realHash} (from public-key)`)

    // A snapshot that does not vouch for a key is an error, not a verdict.
    const untrusted = await verify(nodeDir, '--snapshot', snapshot, '--trust', attackerHex)
    expect(untrusted.status).toBe(3)
    expect(untrusted.stderr).toMatch(/^error \[SNAPSHOT_REJECTED\]: UNTRUSTED_AUTHORITY/)
    const other = await snapshotOf([[second, real.public_key]], 'other.json')
    const missing = await verify(nodeDir, '--snapshot', other, ...trust)
    expect(missing.status).toBe(3)
    expect(missing.stderr).toMatch(/^error \[NODE_NOT_IN_SNAPSHOT\]: /)
  }, 60_000)

  it('bad options are usage errors (exit 2)', async () => {
    const nodeDir = join(await networkWithHistory('verify-usage', 1), 'node-1')
    const key = (await keyFileOf(nodeDir)).public_key
    const cases: string[][] = [
      ['--public-key', 'abcd'],
      ['--public-key', key.toUpperCase()],
      ['--public-key', key, '--snapshot', join(nodeDir, 'node.json'), '--trust', key],
      ['--snapshot', join(nodeDir, 'node.json')],
      ['--trust', key],
      ['--snapshot', join(nodeDir, 'no-such-snapshot.json'), '--trust', key],
      ['--head', 'xyz'],
    ]
    for (const extra of cases) {
      const r = await verify(nodeDir, ...extra)
      expect(r.status, extra.join(' ').slice(0, 60)).toBe(2)
      expect(r.stderr).toMatch(/^error \[INVALID_ARGUMENT\]: /)
    }
  })
})

describe('qfs-node log verify: codes and the signed head', () => {
  it('tells a crash-left unsigned tail (UNCOVERED_TAIL) from a tampered one, which the next start signs', async () => {
    const nodeDir = join(await networkWithHistory('verify-tail', 2), 'node-1')
    const before = await verify(nodeDir)
    const tail = await appendUnsigned(nodeDir, 'unsigned')
    const crashed = await verify(nodeDir)
    expect(crashed).toMatchObject({
      status: 1,
      verdict: { ok: false, code: 'UNCOVERED_TAIL', first_bad_seq: tail.seq, entries: tail.seq + 1 },
    })
    // The signed head is the one before the tail.
    expect(crashed.verdict.last_checkpoint_id).toBe(before.verdict.last_checkpoint_id)
    const text = await runCli(['log', 'verify', '--dir', nodeDir])
    expect(text.stdout).toMatch(
      new RegExp(`^log of node-1 has an UNSIGNED TAIL from entry ${tail.seq} \\[UNCOVERED_TAIL\\]: `),
    )

    // The same entry altered: its hash gives it away.
    const original = await withDb(nodeDir, async (db) => {
      const { events } = openLogSublevels(db)
      const text = (await events.get(seqKey(tail.seq)))!
      await events.put(seqKey(tail.seq), text.replace('"timestamp_tick":42', '"timestamp_tick":999'))
      return text
    })
    expect(await verify(nodeDir)).toMatchObject({
      status: 1,
      verdict: { code: 'BAD_ENTRY', first_bad_seq: tail.seq },
    })
    await withDb(nodeDir, (db) => openLogSublevels(db).events.put(seqKey(tail.seq), original))

    // docs/audit-log.md's stated limit: the next start signs any tail that hashes and links.
    const node = await openLocalNode({ nodeId: 'node-1', dir: nodeDir })
    await node.close()
    expect(await verify(nodeDir)).toMatchObject({ status: 0, verdict: { ok: true, entries: tail.seq + 1 } })
  })

  it('reports the signed head, and --head finds a log cut back below a head seen before', async () => {
    const nodeDir = join(await networkWithHistory('verify-head', 3), 'node-1')
    const appendOne = async (tick: number) => {
      const node = await openLocalNode({ nodeId: 'node-1', dir: nodeDir })
      await node.log.append({ event_type: 'READ', epoch: 0, timestamp_tick: tick })
      await node.close()
    }
    await appendOne(1)
    const full = (await verify(nodeDir)).verdict
    const stored = await withDb(nodeDir, async (db) => {
      const { events, ckpts } = openLogSublevels(db)
      const [[, cp]] = (await ckpts.iterator({ reverse: true, limit: 1 }).all()) as [[string, string]]
      const last = JSON.parse(cp)
      return { last, head: JSON.parse((await events.get(seqKey(last.last_seq)))!) }
    })
    expect(full).toMatchObject({
      ok: true,
      checkpoints: stored.last.checkpoint_seq + 1,
      last_checkpoint_id: stored.last.checkpoint_id,
      head_seq: stored.last.last_seq,
      head_event_id: stored.head.event_id,
      entries: stored.last.last_seq + 1,
    })
    expect(full.checkpoints).toBeGreaterThanOrEqual(2)
    expect(await verify(nodeDir, '--head', full.last_checkpoint_id)).toMatchObject({ status: 0 })

    // Drop the newest checkpoint with its entries: no key needed. Without a head given, the one the
    // node recorded in D/log-head.json catches it ...
    await withDb(nodeDir, async (db) => {
      const { events, ckpts } = openLogSublevels(db)
      for (let s = stored.last.first_seq; s <= stored.last.last_seq; s++) await events.del(seqKey(s))
      await ckpts.del(seqKey(stored.last.last_seq))
    })
    const cut = await verify(nodeDir)
    expect(cut).toMatchObject({
      status: 1,
      verdict: {
        ok: false,
        code: 'HEAD_NOT_FOUND',
        checkpoints: full.checkpoints - 1,
        head_seq: stored.last.first_seq - 1,
      },
    })
    expect(cut.verdict.last_checkpoint_id).toBe(stored.last.prev_checkpoint_id)
    // ... while what is left verifies on its own, against any head it still holds.
    expect(await verify(nodeDir, '--head', stored.last.prev_checkpoint_id)).toMatchObject({
      status: 0,
      verdict: { ok: true },
    })
    expect(await verify(nodeDir, '--head', full.last_checkpoint_id)).toMatchObject({
      status: 1,
      verdict: { ok: false, code: 'HEAD_NOT_FOUND', first_bad_seq: null },
    })

    // The node itself refuses to start on it: D/log-head.json records the checkpoint it signed last.
    const recorded = JSON.parse(await readFile(join(nodeDir, 'log-head.json'), 'utf8'))
    expect(recorded.checkpoint_id).toBe(full.last_checkpoint_id)
    await expect(openLocalNode({ nodeId: 'node-1', dir: nodeDir })).rejects.toMatchObject({
      code: 'LOG_ROLLED_BACK',
    })
    // Its operator accepts the loss by removing the record, and the node goes on writing: the log
    // grows past the old counts on another chain; the head still tells.
    await rm(join(nodeDir, 'log-head.json'))
    await appendOne(2)
    await appendOne(3)
    const regrown = await verify(nodeDir, '--head', full.last_checkpoint_id)
    expect(regrown.verdict.checkpoints).toBeGreaterThanOrEqual(full.checkpoints)
    expect(regrown).toMatchObject({ status: 1, verdict: { code: 'HEAD_NOT_FOUND' } })
    const text = await runCli(['log', 'verify', '--dir', nodeDir, '--head', full.last_checkpoint_id])
    expect(text.stdout).toMatch(/^log of node-1 CUT BACK \[HEAD_NOT_FOUND\]: /)
    expect(await verify(nodeDir, '--head', cut.verdict.last_checkpoint_id)).toMatchObject({ status: 0 })
  })

  it('reads every key as the node does: a stray or misfiled key is STRAY_KEY', async () => {
    const nodeDir = join(await networkWithHistory('verify-keys', 2), 'node-1')
    const clean = (await verify(nodeDir)).verdict
    expect(clean.ok).toBe(true)
    const n = clean.entries as number
    const cases: Array<[string, 'events' | 'ckpts', string, number]> = [
      ['a key above the seq keys', 'events', 'x', n],
      ['a key below the seq keys', 'events', '0', 0],
      ['a checkpoint under a key that is no seq', 'ckpts', 'zz', n],
      ['a seq key with a digit too many', 'events', `${seqKey(n)}0`, n],
    ]
    for (const [name, where, key, seq] of cases) {
      await withDb(nodeDir, (db) => openLogSublevels(db)[where].put(key, '{"not":"an entry"}'))
      const r = await verify(nodeDir)
      expect(r.status, name).toBe(1)
      expect(r.verdict, name).toMatchObject({ code: 'STRAY_KEY', first_bad_seq: seq })
      await withDb(nodeDir, (db) => openLogSublevels(db)[where].del(key))
    }
    // The newest entry filed under the next seq: the node would not find it where it looks.
    await withDb(nodeDir, async (db) => {
      const { events } = openLogSublevels(db)
      const value = (await events.get(seqKey(n - 1)))!
      await events.del(seqKey(n - 1))
      await events.put(seqKey(n), value)
    })
    expect(await verify(nodeDir)).toMatchObject({
      status: 1,
      verdict: { code: 'STRAY_KEY', first_bad_seq: n - 1 },
    })
  })
})
