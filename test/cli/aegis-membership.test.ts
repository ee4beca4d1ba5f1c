import { existsSync } from 'node:fs'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { generateKeyPair, generateKeyPairFromSeed } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { ml_dsa65 } from '@noble/post-quantum/ml-dsa.js'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { toHex } from '../../src/core/bytes.js'
import { writeSnapshotFile } from '../../src/daemon/snapshot-file.js'
import { generateAuditKey } from '../../src/log/keys.js'
import {
  computeSnapshotHash,
  createSnapshot,
  type EpochSnapshot,
  type SnapshotBody,
  signSnapshot,
} from '../../src/membership/snapshot.js'
import type { NodeEntry } from '../../src/membership/types.js'
import { runCli } from './run.js'

// What `aegis sign` and `aegis verify` refuse about the nodes, the parameters and the chain they are
// given (docs/operations.md "Snapshots").

let root = ''
let key = ''
let authorityHex = ''
const peers = await Promise.all(
  [0x21, 0x22, 0x23].map(async (b) =>
    peerIdFromPrivateKey(await generateKeyPairFromSeed('Ed25519', new Uint8Array(32).fill(b))).toString(),
  ),
)
const auditKey = (b: number) => toHex(generateAuditKey(new Uint8Array(32).fill(b)).publicKey)
const entries: NodeEntry[] = peers.map((id, i) => ({
  node_id: id,
  multiaddrs: [`/ip4/127.0.0.1/tcp/${4700 + i}/p2p/${id}`],
  mldsa_public_key: auditKey(0x31 + i),
}))

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'qfs-aegis-membership-'))
  key = join(root, 'authority.json')
  expect((await runCli(['aegis', 'keygen', '--out', key])).status).toBe(0)
  authorityHex = (await readFile(`${key}.pub`, 'utf8')).trim()
})
afterAll(async () => {
  if (root !== '') await rm(root, { recursive: true, force: true })
})

async function jsonFile(name: string, value: unknown): Promise<string> {
  const path = join(root, name)
  await writeFile(path, JSON.stringify(value))
  return path
}

const sign = (out: string, ...args: string[]) =>
  runCli(['aegis', 'sign', '--key', key, '--out', join(root, out), ...args])

describe('aegis sign refuses what no network could use', () => {
  it('a node_id that is not a libp2p peer id (placed on, never dialled): INVALID_INPUT naming it', async () => {
    const nodes = await jsonFile('not-peer.json', [{ ...entries[0]!, node_id: 'storage-a', multiaddrs: [] }])
    const r = await sign('not-peer-out.json', '--epoch', '0', '--nodes', nodes)
    expect(r.status).toBe(2)
    expect(r.stderr).toBe(
      `error [INVALID_INPUT]: ${nodes}: node 0: node_id "storage-a" is not a libp2p peer id (12D3KooW…, as qfs-node init prints)\n`,
    )
    expect(existsSync(join(root, 'not-peer-out.json'))).toBe(false)
  })

  it('a node_id of a key other than Ed25519 (its acceptances could not be checked): INVALID_INPUT', async () => {
    const secp = peerIdFromPrivateKey(await generateKeyPair('secp256k1')).toString()
    const nodes = await jsonFile('secp.json', [{ ...entries[0]!, node_id: secp, multiaddrs: [] }])
    const r = await sign('secp-out.json', '--epoch', '0', '--nodes', nodes)
    expect(r.status).toBe(2)
    expect(r.stderr).toMatch(/node 0: node_id \S+ is not the peer id of an Ed25519 key/)
    expect(existsSync(join(root, 'secp-out.json'))).toBe(false)
  })

  it('two nodes with one audit key (a copied key file): INVALID_INPUT naming both', async () => {
    const shared = entries.map((e) => ({ ...e, mldsa_public_key: entries[0]!.mldsa_public_key }))
    const r = await sign('shared-out.json', '--epoch', '0', '--nodes', await jsonFile('shared.json', shared))
    expect(r.status).toBe(2)
    expect(r.stderr).toMatch(/^error \[INVALID_INPUT\]: nodes \S+ and \S+ share one mldsa_public_key/)
    expect(existsSync(join(root, 'shared-out.json'))).toBe(false)
  })

  it('a block size no node can prove: INVALID_INPUT; the largest servable one is signed', async () => {
    const nodes = await jsonFile('nodes.json', entries)
    const big = await jsonFile('big.json', { block_size_bytes: 1_048_576 })
    const r = await sign('big-out.json', '--epoch', '0', '--nodes', nodes, '--params', big)
    expect(r.status).toBe(2)
    expect(r.stderr).toMatch(
      /^error \[INVALID_INPUT\]: no node can serve these parameters: block_size_bytes 1048576 is more than 737280/,
    )
    const largest = await jsonFile('largest.json', { block_size_bytes: 737_280 })
    expect(
      (await sign('largest-out.json', '--epoch', '0', '--nodes', nodes, '--params', largest)).status,
    ).toBe(0)
  })
})

describe('aegis sign --prev', () => {
  const stranger = generateAuditKey(new Uint8Array(32).fill(66))
  let forged = ''
  beforeAll(async () => {
    // A stranger's epoch 4 with replication_factor 1: without --params, sign would carry it on.
    const s = signSnapshot(
      createSnapshot({
        epoch: 4,
        startTick: 400,
        nodes: entries,
        params: { blockSizeBytes: 262_144, numShardsPerObject: 4, replicationFactor: 1, schemaVersion: 1 },
        authorityPublicKey: stranger.publicKey,
      }),
      stranger,
    )
    forged = join(root, 'stranger-e4.json')
    await writeSnapshotFile(forged, s)
  })

  it('refuses a previous snapshot another authority signed (UNTRUSTED_AUTHORITY, exit 3)', async () => {
    const nodes = await jsonFile('prev-nodes.json', entries)
    const r = await sign('e5.json', '--prev', forged, '--nodes', nodes)
    expect(r.status).toBe(3)
    expect(r.stderr).toMatch(
      /^error \[SNAPSHOT_REJECTED\]: UNTRUSTED_AUTHORITY: --prev .*not signed by --key/,
    )
    expect(existsSync(join(root, 'e5.json'))).toBe(false)
  })

  it('follows it when that authority is trusted with --trust (a key rotation)', async () => {
    const nodes = await jsonFile('prev-nodes.json', entries)
    const r = await sign(
      'e5-rotated.json',
      '--prev',
      forged,
      '--trust',
      toHex(stranger.publicKey),
      '--nodes',
      nodes,
    )
    expect(r.stderr).toBe('')
    expect(r.status).toBe(0)
    const next = JSON.parse(await readFile(join(root, 'e5-rotated.json'), 'utf8')) as EpochSnapshot
    expect(next).toMatchObject({ epoch: 5, authority_public_key: authorityHex })
  })
})

describe('aegis verify', () => {
  it('a --prev file that does not exist is a usage error (exit 2), like a missing snapshot', async () => {
    const nodes = await jsonFile('verify-nodes.json', entries)
    const out = join(root, 'v0.json')
    expect(
      (await runCli(['aegis', 'sign', '--key', key, '--epoch', '0', '--nodes', nodes, '--out', out])).status,
    ).toBe(0)
    const missing = join(root, 'nope.json')
    const r = await runCli(['aegis', 'verify', out, '--trust', `${key}.pub`, '--prev', missing])
    expect(r).toMatchObject({ status: 2, stdout: '' })
    expect(r.stderr).toBe(`error [INVALID_ARGUMENT]: --prev ${missing} does not exist\n`)
  })

  it('calls a signed snapshot that gives a key twice INVALID [MALFORMED] naming it, also as --prev', async () => {
    const nodes = await jsonFile('twice-nodes.json', entries)
    const out = join(root, 'twice-0.json')
    expect(
      (await runCli(['aegis', 'sign', '--key', key, '--epoch', '0', '--nodes', nodes, '--out', out])).status,
    ).toBe(0)
    // JSON.parse keeps the last epoch, the signed 0; a reader keeping the first would read 99.
    const twice = join(root, 'twice.json')
    await writeFile(twice, (await readFile(out, 'utf8')).replace('{', '{"epoch":99,'))
    const r = await runCli(['aegis', 'verify', twice, '--trust', `${key}.pub`])
    expect(r).toMatchObject({ status: 1, stderr: '' })
    expect(r.stdout).toBe(`INVALID [MALFORMED]: ${twice} gives epoch twice in one object\n`)
    const asPrev = await runCli(['aegis', 'verify', out, '--trust', `${key}.pub`, '--prev', twice])
    expect(asPrev).toMatchObject({ status: 3, stdout: '' })
    expect(asPrev.stderr).toBe(
      `error [SNAPSHOT_REJECTED]: MALFORMED: ${twice} gives epoch twice in one object\n`,
    )
  })

  it('calls a signed snapshot listing an id that is no peer id INVALID [MALFORMED] (exit 1)', async () => {
    // As an earlier version would have signed it: hash and signature are right, the id is not.
    const authority = generateAuditKey(new Uint8Array(32).fill(0x41))
    const body = {
      schema: 'qfs-epoch-snapshot/1',
      epoch: 0,
      start_tick: 0,
      params: {
        block_size_bytes: 262144,
        num_shards_per_object: 4,
        replication_factor: 3,
        schema_version: 1,
      },
      nodes: [{ node_id: 'storage-a', multiaddrs: [], mldsa_public_key: entries[0]!.mldsa_public_key }],
      prev_snapshot_hash: '0'.repeat(64),
      authority_public_key: toHex(authority.publicKey),
    } as SnapshotBody
    const hash = computeSnapshotHash(body)
    const message = new Uint8Array([
      ...new TextEncoder().encode('qfs-epoch-snapshot/1'),
      ...Buffer.from(hash, 'hex'),
    ])
    const file = await jsonFile('old-ids.json', {
      ...body,
      snapshot_hash: hash,
      signature: toHex(ml_dsa65.sign(message, authority.secretKey)),
    })
    const r = await runCli(['aegis', 'verify', file, '--trust', toHex(authority.publicKey)])
    expect(r.status).toBe(1)
    expect(r.stdout).toBe(
      'INVALID [MALFORMED]: nodes[0].node_id "storage-a" is not a libp2p peer id in its standard form\n',
    )
  })
})
