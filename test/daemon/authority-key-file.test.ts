import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { toHex } from '../../src/core/bytes.js'
import {
  createAuthorityKeyFile,
  readAuthorityKeyFile,
  resolveTrustedKey,
} from '../../src/daemon/authority-key.js'
import { generateAuditKey } from '../../src/log/keys.js'

// The AEGIS authority key file (aegis keygen writes it, aegis sign reads it): never overwritten, and
// read back only when its seed is 32 bytes and its public_key is the seed's.

let root = ''
let path = ''
let created: { key: { publicKey: Uint8Array }; publicPath: string }

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'qfs-authority-key-'))
  path = join(root, 'authority.json')
  created = await createAuthorityKeyFile(path)
})
afterAll(async () => {
  if (root !== '') await rm(root, { recursive: true, force: true })
})

/** A key file as keygen writes it, with `over` changed, at mode 600. */
async function keyFile(name: string, over: Record<string, unknown>): Promise<string> {
  const body = { ...JSON.parse(await readFile(path, 'utf8')), ...over }
  const file = join(root, name)
  await writeFile(file, JSON.stringify(body), { mode: 0o600 })
  return file
}

describe('the authority key file', () => {
  it('is never overwritten, nor its .pub beside it', async () => {
    const [secret, pub] = [await readFile(path, 'utf8'), await readFile(created.publicPath, 'utf8')]
    expect(pub.trim()).toBe(toHex(created.key.publicKey))
    await expect(createAuthorityKeyFile(path)).rejects.toMatchObject({
      code: 'INVALID_KEY_FILE',
      message: `${path} already exists; refusing to overwrite a key`,
    })
    expect(await readFile(path, 'utf8')).toBe(secret)
    expect(await readFile(created.publicPath, 'utf8')).toBe(pub)
    expect(toHex((await readAuthorityKeyFile(path)).publicKey)).toBe(toHex(created.key.publicKey))
  })

  it("refuses a public_key that is not the seed's, and a seed that is not 32 bytes", async () => {
    const other = toHex(generateAuditKey(new Uint8Array(32).fill(5)).publicKey)
    const swapped = await keyFile('swapped.json', { public_key: other })
    await expect(readAuthorityKeyFile(swapped)).rejects.toMatchObject({
      code: 'INVALID_KEY_FILE',
      message: `${swapped}: public_key does not belong to the seed`,
    })
    const seed = JSON.parse(await readFile(path, 'utf8')).seed as string
    for (const [name, bad] of [
      ['long.json', `${seed}00`],
      ['short.json', seed.slice(2)],
    ] as const) {
      const file = await keyFile(name, { seed: bad })
      await expect(readAuthorityKeyFile(file)).rejects.toMatchObject({
        code: 'INVALID_KEY_FILE',
        message: `${file}: seed must be 64 hex`,
      })
    }
  })
})

describe('another key file in place of the authority key file', () => {
  it("refuses a node's audit key (another schema), though it holds a seed and its public key", async () => {
    const audit = await keyFile('audit-key.json', { schema: 'qfs-audit-key/1' })
    await expect(readAuthorityKeyFile(audit)).rejects.toMatchObject({
      code: 'INVALID_KEY_FILE',
      message: `${audit}: schema must be qfs-authority-key/1`,
    })
  })
})

describe('a trusted key given as hex', () => {
  it('is lower-case hex only: upper case is a mistyped key, as a snapshot writes keys lower case', async () => {
    const hex = toHex(created.key.publicKey)
    expect(await resolveTrustedKey(hex, root)).toBe(hex)
    await expect(resolveTrustedKey(hex.toUpperCase(), root)).rejects.toMatchObject({
      code: 'INVALID_KEY_FILE',
    })
  })

  it('is refused from a JSON file whose public_key is not a whole key', async () => {
    await writeFile(join(root, 'short-key.json'), JSON.stringify({ public_key: 'abcd' }))
    await expect(resolveTrustedKey('short-key.json', root)).rejects.toMatchObject({
      code: 'INVALID_KEY_FILE',
      message: `${join(root, 'short-key.json')} holds no ML-DSA-65 public key (3904 lower-case hex characters)`,
    })
  })
})
