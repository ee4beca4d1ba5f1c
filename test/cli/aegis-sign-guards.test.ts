import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { generateKeyPairFromSeed } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { toHex } from '../../src/core/bytes.js'
import { generateAuditKey } from '../../src/log/keys.js'
import type { NodeEntry } from '../../src/membership/types.js'
import { runCli } from './run.js'

// Slips an authority makes at the command line that used to produce a file no network could use,
// or overwrite the one it runs on (a walkthrough's findings).

let root = ''
let key = ''
const peers = await Promise.all(
  [0x41, 0x42, 0x43, 0x44].map(async (b) =>
    peerIdFromPrivateKey(await generateKeyPairFromSeed('Ed25519', new Uint8Array(32).fill(b))).toString(),
  ),
)
const entries: NodeEntry[] = peers.map((id, i) => ({
  node_id: id,
  multiaddrs: [`/ip4/127.0.0.1/tcp/${4800 + i}/p2p/${id}`],
  mldsa_public_key: toHex(generateAuditKey(new Uint8Array(32).fill(0x51 + i)).publicKey),
}))

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'qfs-aegis-guards-'))
  key = join(root, 'authority.json')
  expect((await runCli(['aegis', 'keygen', '--out', key])).status).toBe(0)
})
afterAll(async () => {
  if (root !== '') await rm(root, { recursive: true, force: true })
})

async function nodesFile(name: string, nodes: NodeEntry[]): Promise<string> {
  const path = join(root, name)
  await writeFile(path, JSON.stringify(nodes))
  return path
}

describe('aegis sign guards', () => {
  it('never replaces an existing --out unless told to (--force)', async () => {
    const nodes = await nodesFile('three.json', entries.slice(0, 3))
    const out = join(root, 'epoch0.json')
    expect(
      (await runCli(['aegis', 'sign', '--key', key, '--epoch', '0', '--nodes', nodes, '--out', out])).status,
    ).toBe(0)
    const first = await readFile(out, 'utf8')
    // The same epoch signed again with another start tick: another file.
    const resign = (...extra: string[]) =>
      runCli([
        'aegis',
        'sign',
        '--key',
        key,
        '--epoch',
        '0',
        '--start-tick',
        '7',
        '--nodes',
        nodes,
        '--out',
        out,
        ...extra,
      ])
    const again = await resign()
    expect(again.status).toBe(2)
    expect(again.stderr).toBe(
      `error [INVALID_ARGUMENT]: ${out} exists: give --force to replace it, or another --out\n`,
    )
    expect(await readFile(out, 'utf8')).toBe(first)
    const forced = await resign('--force')
    expect(forced.status).toBe(0)
    expect(await readFile(out, 'utf8')).not.toBe(first)
  })

  it('refuses a next epoch that adds or removes a node, which every node would refuse, and signs one that keeps them', async () => {
    const prev = join(root, 'prev.json')
    const three = await nodesFile('three-again.json', entries.slice(0, 3))
    expect(
      (await runCli(['aegis', 'sign', '--key', key, '--epoch', '0', '--nodes', three, '--out', prev])).status,
    ).toBe(0)
    const four = await nodesFile('four.json', entries)
    const grown = await runCli([
      'aegis',
      'sign',
      '--key',
      key,
      '--prev',
      prev,
      '--nodes',
      four,
      '--out',
      join(root, 'grown.json'),
    ])
    expect(grown.status).toBe(3)
    expect(grown.stderr).toBe(
      `error [MEMBERSHIP_CHANGE_UNSUPPORTED]: the nodes differ from --prev's (added: ${peers[3]}; removed: none): nodes refuse a change of the eligible set until AEGIS supports it\n`,
    )
    const kept = await runCli([
      'aegis',
      'sign',
      '--key',
      key,
      '--prev',
      prev,
      '--nodes',
      three,
      '--out',
      join(root, 'kept.json'),
    ])
    expect(kept.status).toBe(0)
  })

  it('counts one node as one node, in sign and in verify', async () => {
    const out = join(root, 'one.json')
    const one = await nodesFile('one-node.json', entries.slice(0, 1))
    const signed = await runCli(['aegis', 'sign', '--key', key, '--epoch', '0', '--nodes', one, '--out', out])
    expect(signed.stdout).toMatch(/^epoch 0: 1 node, snapshot_hash [0-9a-f]{64}\n/)
    const verified = await runCli(['aegis', 'verify', out, '--trust', `${key}.pub`])
    expect(verified.stdout).toMatch(/^valid: epoch 0, 1 node, snapshot_hash /)
  })

  it('names a public key file given as --key, whatever its mode, instead of advising chmod', async () => {
    const nodes = await nodesFile('three-pub.json', entries.slice(0, 3))
    for (const mode of [0o644, 0o600]) {
      await chmod(`${key}.pub`, mode)
      const r = await runCli([
        'aegis',
        'sign',
        '--key',
        `${key}.pub`,
        '--epoch',
        '0',
        '--nodes',
        nodes,
        '--out',
        join(root, `pub-${mode}.json`),
      ])
      expect(r.stderr).toBe(
        `error [INVALID_KEY_FILE]: ${key}.pub holds a public key only: signing takes the authority's secret key file (the one aegis keygen wrote, without .pub)\n`,
      )
      expect(r.status).toBe(3)
    }
  })
})
