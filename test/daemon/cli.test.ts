import { chmod, mkdtemp, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { privateKeyFromProtobuf } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { sha3_256 } from '@noble/hashes/sha3.js'
import { Registry } from 'prom-client'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildApi, type NodeStatus } from '../../src/api/app.js'
import { main } from '../../src/cli/main.js'
import { toHex } from '../../src/core/bytes.js'
import { writeRunInfo } from '../../src/daemon/data-dir.js'
import { generateAuditKey } from '../../src/log/keys.js'

function capture() {
  const io = {
    out: '',
    err: '',
    isTty: false,
    stdout: (t: string) => void (io.out += t),
    stderr: (t: string) => void (io.err += t),
  }
  return io
}

async function run(...argv: string[]) {
  const io = capture()
  const status = await main(argv, io)
  return { status, out: io.out, err: io.err }
}

let root: string
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'qfs-cli-'))
})
afterAll(async () => {
  if (root !== undefined) await rm(root, { recursive: true, force: true })
})

describe('qfs-node init', () => {
  it('creates the layout once and reports an existing node unchanged', async () => {
    const dir = join(root, 'n1')
    const first = await run('init', '--dir', dir, '--json')
    expect(first.status).toBe(0)
    const made = JSON.parse(first.out)
    expect(made).toMatchObject({ created: true, dir })
    // The node id is the peer id of the key on disk; the key file is private.
    const keyBytes = await readFile(join(dir, 'peer-key'))
    expect(made.node_id).toBe(peerIdFromPrivateKey(privateKeyFromProtobuf(keyBytes)).toString())
    expect((await stat(join(dir, 'peer-key'))).mode & 0o777).toBe(0o600)
    expect(JSON.parse(await readFile(join(dir, 'node.json'), 'utf8'))).toEqual({
      schema: 'qfs-node/1',
      node_id: made.node_id,
    })
    const audit = JSON.parse(await readFile(join(dir, 'audit-key.json'), 'utf8'))
    expect(made.audit_public_key_hash).toBe(toHex(sha3_256(Buffer.from(audit.public_key, 'hex'))))

    const again = await run('init', '--dir', dir, '--json')
    expect(JSON.parse(again.out)).toEqual({ ...made, created: false })
    expect(await readFile(join(dir, 'peer-key'))).toEqual(keyBytes)
    const text = await run('init', '--dir', dir)
    expect(text.out).toContain('already holds a node (unchanged)')
    expect(text.out).toContain(made.node_id)
  })

  it('refuses a readable peer key or audit key and a node.json naming another key', async () => {
    const dir = join(root, 'n2')
    expect((await run('init', '--dir', dir)).status).toBe(0)
    await chmod(join(dir, 'peer-key'), 0o644)
    const loose = await run('init', '--dir', dir)
    expect(loose.status).toBe(3)
    expect(loose.err).toMatch(/^error \[INSECURE_KEY_FILE\]: .*peer-key has mode 644/)
    await chmod(join(dir, 'peer-key'), 0o600)
    // The audit key as start reads it: init on the directory says what start would.
    await chmod(join(dir, 'audit-key.json'), 0o640)
    const looseAudit = await run('init', '--dir', dir)
    expect(looseAudit.status).toBe(3)
    expect(looseAudit.err).toMatch(/^error \[INSECURE_KEY_FILE\]: .*audit-key.json has mode 640/)
    await chmod(join(dir, 'audit-key.json'), 0o600)
    expect((await run('init', '--dir', dir)).status).toBe(0)
    await writeFile(
      join(dir, 'node.json'),
      JSON.stringify({ schema: 'qfs-node/1', node_id: '12D3KooWother' }),
    )
    const wrong = await run('init', '--dir', dir)
    expect(wrong.err).toMatch(/^error \[INVALID_DATA_DIR\]/)
    expect(wrong.err.split('\n')).toHaveLength(2)
  })
})

describe('qfs-node init on paths it cannot use', () => {
  it('makes every missing level, private, and refuses a file on the way', async () => {
    const dir = join(root, 'deep', 'er', 'node')
    expect((await run('init', '--dir', dir)).status).toBe(0)
    for (const level of [join(root, 'deep'), join(root, 'deep', 'er'), dir]) {
      expect((await stat(level)).mode & 0o777).toBe(0o700)
    }
    const file = join(root, 'plain-file')
    await writeFile(file, 'x')
    for (const target of [file, join(file, 'below')]) {
      const r = await run('init', '--dir', target)
      expect(r.status).toBe(3)
      expect(r.err).toBe(`error [INVALID_DATA_DIR]: the data directory ${target} is not a directory\n`)
    }
  })

  it('names a dangling symbolic link given as the directory', async () => {
    const link = join(root, 'dangling')
    await symlink(join(root, 'nowhere', 'at-all'), link)
    const r = await run('init', '--dir', link)
    expect(r.status).toBe(3)
    expect(r.err).toBe(
      `error [INVALID_DATA_DIR]: the data directory ${link} is a symbolic link to a path that does not exist\n`,
    )
  })

  // Node's recursive mkdir loops forever where mkdir answers ENOENT under an existing parent.
  it.runIf(process.platform === 'linux')('answers at once under /proc instead of hanging', async () => {
    const target = `/proc/qfs-init-${process.pid}`
    const r = await run('init', '--dir', target)
    expect(r.status).toBe(3)
    expect(r.err).toBe(`error [IO_ERROR]: ENOENT: no such file or directory, mkdir '${target}'\n`)
  })
})

describe('qfs-node aegis', () => {
  const key = () => join(root, 'authority.json')

  it('makes a private key and refuses to overwrite it', async () => {
    const r = await run('aegis', 'keygen', '--out', key(), '--json')
    expect(r.status).toBe(0)
    const made = JSON.parse(r.out)
    expect(made.public_key_file).toBe(`${key()}.pub`)
    expect((await stat(key())).mode & 0o777).toBe(0o600)
    const pub = (await readFile(`${key()}.pub`, 'utf8')).trim()
    expect(pub).toMatch(/^[0-9a-f]{3904}$/)
    expect(made.public_key_hash).toBe(toHex(sha3_256(Buffer.from(pub, 'hex'))))
    const again = await run('aegis', 'keygen', '--out', key())
    expect(again.status).toBe(2)
    expect(again.err).toMatch(/^error \[INVALID_ARGUMENT\]: .* exists: keygen never overwrites a key/)
  })

  it('signs a chain of snapshots from node directories and a node list, and verifies them', async () => {
    const d1 = join(root, 'n1')
    const d3 = join(root, 'n3')
    await run('init', '--dir', d3)
    await writeFile(
      join(d3, 'config.json'),
      JSON.stringify({ listen: ['/ip4/127.0.0.1/tcp/4555', '/ip4/127.0.0.1/tcp/0'] }),
    )
    const n1 = JSON.parse((await run('init', '--dir', d1, '--json')).out).node_id
    await writeRunInfo(d1, {
      pid: 1,
      node_id: n1,
      multiaddrs: [`/ip4/127.0.0.1/tcp/4444/p2p/${n1}`],
      api: 'http://x',
    })
    const extra = join(root, 'extra.json')
    const extraKey = toHex(generateAuditKey(new Uint8Array(32).fill(9)).publicKey)
    await writeFile(
      extra,
      JSON.stringify({
        // A peer id of no running node (Ed25519 seed 0x01 x 32): a node listed by hand.
        nodes: [
          {
            node_id: '12D3KooWK99VoVxNE7XzyBwXEzW7xhK7Gpv85r9F3V3fyKSUKPH5',
            multiaddrs: [],
            mldsa_public_key: extraKey,
          },
        ],
      }),
    )

    const s0 = join(root, 's0.json')
    const signed = await run(
      'aegis',
      'sign',
      '--key',
      key(),
      '--node-dir',
      d1,
      '--node-dir',
      d3,
      '--nodes',
      extra,
      '--epoch',
      '0',
      '--out',
      s0,
      '--json',
    )
    expect(signed.status).toBe(0)
    const snapshot = JSON.parse(await readFile(s0, 'utf8'))
    expect(JSON.parse(signed.out)).toEqual({
      epoch: 0,
      snapshot_hash: snapshot.snapshot_hash,
      nodes: 3,
      out: s0,
    })
    const byId = new Map(snapshot.nodes.map((n: { node_id: string }) => [n.node_id, n]))
    expect(byId.get(n1)).toMatchObject({ multiaddrs: [`/ip4/127.0.0.1/tcp/4444/p2p/${n1}`] })
    const n3 = JSON.parse(await readFile(join(d3, 'node.json'), 'utf8')).node_id
    const audit3 = JSON.parse(await readFile(join(d3, 'audit-key.json'), 'utf8')).public_key
    expect(byId.get(n3)).toEqual({
      node_id: n3,
      multiaddrs: ['/ip4/127.0.0.1/tcp/4555'],
      mldsa_public_key: audit3,
    })
    expect(snapshot.start_tick).toBe(0)

    const ok = await run('aegis', 'verify', s0, '--trust', `${key()}.pub`)
    expect(ok.status).toBe(0)
    expect(ok.out).toMatch(/^valid: epoch 0, 3 nodes, snapshot_hash [0-9a-f]{64}/)
    const other = await run('aegis', 'verify', s0, '--trust', extraKey, '--json')
    expect(other.status).toBe(1)
    expect(JSON.parse(other.out)).toMatchObject({ ok: false, code: 'UNTRUSTED_AUTHORITY' })

    const s1 = join(root, 's1.json')
    expect(
      (
        await run(
          'aegis',
          'sign',
          '--key',
          key(),
          '--prev',
          s0,
          '--node-dir',
          d1,
          '--node-dir',
          d3,
          '--nodes',
          extra,
          '--out',
          s1,
        )
      ).status,
    ).toBe(0)
    const next = JSON.parse(await readFile(s1, 'utf8'))
    expect(next).toMatchObject({ epoch: 1, start_tick: 86_400, prev_snapshot_hash: snapshot.snapshot_hash })
    expect((await run('aegis', 'verify', s1, '--trust', `${key()}.pub`, '--prev', s0)).status).toBe(0)
    const broken = await run('aegis', 'verify', s1, '--trust', `${key()}.pub`, '--prev', s1)
    expect(broken.status).toBe(1)
    expect(broken.out).toMatch(/^INVALID \[BROKEN_CHAIN\]/)

    // A wrong epoch after --prev fails at signing, before anyone loads the file.
    const gap = await run(
      'aegis',
      'sign',
      '--key',
      key(),
      '--prev',
      s0,
      '--epoch',
      '5',
      '--node-dir',
      d1,
      '--node-dir',
      d3,
      '--nodes',
      extra,
      '--out',
      join(root, 'gap.json'),
    )
    expect(gap.status).toBe(3)
    expect(gap.err).toMatch(/^error \[SNAPSHOT_REJECTED\]: BROKEN_CHAIN/)
  })

  it('refuses bad input with a usage status', async () => {
    const noNodes = await run('aegis', 'sign', '--key', key(), '--epoch', '0', '--out', join(root, 'x.json'))
    expect(noNodes).toMatchObject({ status: 2 })
    expect(noNodes.err).toMatch(/^error \[INVALID_ARGUMENT\]: no nodes/)
    const badEpoch = await run(
      'aegis',
      'sign',
      '--key',
      key(),
      '--epoch',
      'one',
      '--node-dir',
      join(root, 'n1'),
      '--out',
      join(root, 'x.json'),
    )
    expect(badEpoch.err).toMatch(/^error \[INVALID_ARGUMENT\]: --epoch/)
    await chmod(key(), 0o640)
    const loose = await run(
      'aegis',
      'sign',
      '--key',
      key(),
      '--epoch',
      '0',
      '--node-dir',
      join(root, 'n1'),
      '--out',
      join(root, 'x.json'),
    )
    expect(loose.err).toMatch(/^error \[INSECURE_KEY_FILE\]/)
    await chmod(key(), 0o600)
  })
})

describe('qfs-node status', () => {
  const status: NodeStatus = {
    node_id: '12D3KooWstatus',
    version: '0.1.0',
    ready: true,
    epoch: 4,
    snapshot_hash: 'ab'.repeat(32),
    multiaddrs: ['/ip4/127.0.0.1/tcp/4001'],
    peers: 2,
    store: { objects: 1, versions: 2, shards: 3, bytes_stored: 44, staged: 0 },
    log: {
      entries: 9,
      last_event_id: 'cd'.repeat(32),
      covered_entries: 9,
      checkpoints: 2,
      last_checkpoint_id: 'ef'.repeat(32),
    },
    space: { free_bytes: 700, reserve_bytes: 1000, capacity_bytes: 50, accepting_writes: false },
    suspect_peers: [],
    uptime_seconds: 3,
  }

  it('reads /v1/status from --api or from the run.json of --dir', async () => {
    const app = buildApi({
      status: async () => status,
      readiness: () => ({ store: true, libp2p: true, snapshot: true, eligible: true }),
      listObjects: async () => {
        throw new Error('unused')
      },
      registry: new Registry(),
      token: 'status-test-token-123',
    })
    const api = await app.listen({ host: '127.0.0.1', port: 0 })
    try {
      const json = await run('status', '--api', api, '--api-token', 'status-test-token-123', '--json')
      expect(json.status).toBe(0)
      expect(JSON.parse(json.out)).toEqual(status)
      const dir = join(root, 'n1')
      await writeRunInfo(dir, { pid: 1, node_id: status.node_id, multiaddrs: [], api })
      const text = await run('status', '--dir', dir, '--api-token', 'status-test-token-123')
      expect(text.out).toContain('node     12D3KooWstatus\n')
      expect(text.out).toContain(`epoch    4 (snapshot ${'ab'.repeat(32)})\n`)
      expect(text.out).toContain('store    1 objects, 2 versions, 3 shards, 44 bytes\n')
      expect(text.out).toContain(
        'space    700 bytes free, 1000 kept in reserve, capacity 50 bytes; FULL: refusing new shards (STORAGE_FULL)\n',
      )
      const denied = await run('status', '--api', api)
      expect(denied.status).toBe(3)
      expect(denied.err).toMatch(/^error \[UNAUTHORIZED\]/)
    } finally {
      await app.close()
    }
    const gone = await run('status', '--api', api)
    expect(gone.status).toBe(3)
    expect(gone.err).toMatch(/^error \[NODE_UNAVAILABLE\]: no answer from/)
  })

  it('says when no node runs in the directory, and refuses ambiguous arguments', async () => {
    const none = await run('status', '--dir', join(root, 'n2'))
    expect(none.status).toBe(3)
    expect(none.err).toMatch(/^error \[NOT_RUNNING\]/)
    const both = await run('status', '--dir', root, '--api', 'http://127.0.0.1:1')
    expect(both.status).toBe(2)
  })
})
