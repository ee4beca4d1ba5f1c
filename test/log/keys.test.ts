import { execFileSync } from 'node:child_process'
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ml_dsa65 } from '@noble/post-quantum/ml-dsa.js'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { generateAuditKey, loadAuditPublicKey, loadOrCreateAuditKey } from '../../src/log/keys.js'

let root: string
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'qfs-log-keys-'))
})
afterAll(async () => {
  await rm(root, { recursive: true, force: true })
})

describe('audit keys', () => {
  it('derives the FIPS 204 key pair from a seed', () => {
    const seed = new Uint8Array(32).fill(1)
    const key = generateAuditKey(seed)
    const direct = ml_dsa65.keygen(seed)
    expect(key.scheme).toBe('ML-DSA-65')
    expect(key.publicKey).toEqual(direct.publicKey)
    expect(() => generateAuditKey(new Uint8Array(31))).toThrow(
      expect.objectContaining({ code: 'INVALID_INPUT' }),
    )
  })

  it.skipIf(process.platform === 'win32')(
    'creates audit-key.json once with mode 0600 and reuses it',
    async () => {
      const dir = join(root, 'node1', 'data')
      const key = await loadOrCreateAuditKey(dir)
      const file = join(dir, 'audit-key.json')
      expect((await stat(file)).mode & 0o777).toBe(0o600)
      const again = await loadOrCreateAuditKey(dir)
      expect(again.publicKey).toEqual(key.publicKey)
      expect(again.secretKey).toEqual(key.secretKey)
      expect(await loadAuditPublicKey(dir)).toEqual(key.publicKey)
      const stored = JSON.parse(await readFile(file, 'utf8'))
      expect(Object.keys(stored).sort()).toEqual(['public_key', 'schema', 'scheme', 'seed'])
      expect(generateAuditKey(new Uint8Array(Buffer.from(stored.seed, 'hex'))).publicKey).toEqual(
        key.publicKey,
      )
    },
  )

  it('two concurrent first starts agree on one key', async () => {
    const dir = join(root, 'race')
    const [a, b] = await Promise.all([loadOrCreateAuditKey(dir), loadOrCreateAuditKey(dir)])
    expect(a.publicKey).toEqual(b.publicKey)
    // Neither leaves its temporary copy of a secret behind, the winner nor the loser.
    expect(await readdir(dir)).toEqual(['audit-key.json'])
  })

  it.skipIf(process.platform === 'win32')('refuses a key file readable by others', async () => {
    const dir = join(root, 'open')
    await loadOrCreateAuditKey(dir)
    await chmod(join(dir, 'audit-key.json'), 0o644)
    await expect(loadOrCreateAuditKey(dir)).rejects.toMatchObject({ code: 'INSECURE_KEY_FILE' })
  })

  it.skipIf(process.platform === 'win32')('refuses a key file any group or other bit opens', async () => {
    const dir = join(root, 'group')
    await loadOrCreateAuditKey(dir)
    for (const mode of [0o640, 0o620, 0o610, 0o604, 0o602]) {
      await chmod(join(dir, 'audit-key.json'), mode)
      await expect(loadOrCreateAuditKey(dir), mode.toString(8)).rejects.toMatchObject({
        code: 'INSECURE_KEY_FILE',
      })
    }
  })

  it.skipIf(process.platform === 'win32')(
    'a directory or a FIFO in place of the key file is INVALID_KEY_FILE naming it, never waited on',
    async () => {
      for (const kind of ['directory', 'fifo']) {
        const dir = join(root, `not-a-file-${kind}`)
        await mkdir(dir)
        const path = join(dir, 'audit-key.json')
        if (kind === 'directory') await mkdir(path, { mode: 0o700 })
        else execFileSync('mkfifo', ['-m', '600', path])
        const refusal = { code: 'INVALID_KEY_FILE', message: `${path} is not a regular file` }
        // Before, the FIFO hung both reads (a plain open waits for a writer) and the directory was a
        // bare EISDIR naming no file.
        await expect(loadOrCreateAuditKey(dir), kind).rejects.toMatchObject(refusal)
        await expect(loadAuditPublicKey(dir), kind).rejects.toMatchObject(refusal)
      }
    },
    10_000,
  )

  it('a bad file is INVALID_KEY_FILE', async () => {
    const valid = generateAuditKey(new Uint8Array(32).fill(2))
    const good = {
      schema: 'qfs-audit-key/1',
      scheme: 'ML-DSA-65',
      seed: '02'.repeat(32),
      public_key: Buffer.from(valid.publicKey).toString('hex'),
    }
    const other = generateAuditKey(new Uint8Array(32).fill(4))
    const bad: [string, string][] = [
      ['not json', '{'],
      ['array', '[]'],
      ['wrong schema', JSON.stringify({ ...good, schema: 'qfs-audit-key/2' })],
      ['wrong scheme', JSON.stringify({ ...good, scheme: 'ML-DSA-44' })],
      ['short seed', JSON.stringify({ ...good, seed: '02' })],
      ['upper-case hex', JSON.stringify({ ...good, seed: 'AB'.repeat(32) })],
      ['public key of another seed', JSON.stringify({ ...good, seed: '03'.repeat(32) })],
      [
        'another public key beside the seed',
        JSON.stringify({ ...good, public_key: Buffer.from(other.publicKey).toString('hex') }),
      ],
    ]
    for (const [name, text] of bad) {
      const dir = join(root, `bad-${name.replaceAll(' ', '-')}`)
      await loadOrCreateAuditKey(dir)
      await writeFile(join(dir, 'audit-key.json'), text, { mode: 0o600 })
      await expect(loadOrCreateAuditKey(dir), name).rejects.toMatchObject({ code: 'INVALID_KEY_FILE' })
      // What an auditor reads refuses the same files the node's start refuses.
      await expect(loadAuditPublicKey(dir), name).rejects.toMatchObject({ code: 'INVALID_KEY_FILE' })
    }
    await expect(loadAuditPublicKey(join(root, 'nowhere'))).rejects.toMatchObject({
      code: 'INVALID_KEY_FILE',
    })
  })
})
