import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest'
import { toHex } from '../../src/core/bytes.js'
import {
  createAuthorityKeyFile,
  readPublicKeyFile,
  resolveTrustedKey,
} from '../../src/daemon/authority-key.js'
import { loadConfig } from '../../src/daemon/config.js'
import { InvalidConfigError } from '../../src/daemon/errors.js'
import { generateAuditKey, loadOrCreateAuditKey } from '../../src/log/keys.js'

/**
 * `--trust` (walkthrough L22): an entry that is neither a key nor a file says both, and a key file
 * that holds the authority's secret is accepted with a warning that the secret belongs on no node.
 */

const KEY = toHex(generateAuditKey(new Uint8Array(32).fill(7)).publicKey)
const NEITHER = 'is neither a hex ML-DSA-65 public key (3904 lower-case hex characters) nor a readable file'

let root: string
let authority: { path: string; publicKey: string }

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'qfs-trust-'))
  const path = join(root, 'authority.json')
  const created = await createAuthorityKeyFile(path)
  authority = { path, publicKey: toHex(created.key.publicKey) }
  await writeFile(join(root, 'public-only.json'), JSON.stringify({ public_key: KEY }))
})
afterAll(async () => {
  if (root !== undefined) await rm(root, { recursive: true, force: true })
})
afterEach(() => {
  vi.restoreAllMocks()
})

function collector(): { warn: (m: string) => void; messages: string[] } {
  const messages: string[] = []
  return { warn: (m) => messages.push(m), messages }
}

describe('a trusted key that is neither hex nor a file', () => {
  it('names both readings of a short word', async () => {
    const err = await resolveTrustedKey('abcd', root).catch((e: unknown) => e)
    expect(err).toMatchObject({ code: 'INVALID_KEY_FILE' })
    expect((err as Error).message).toBe(`"abcd" ${NEITHER} (${join(root, 'abcd')}: ENOENT)`)
  })

  it('names both readings of a path that does not exist, and of a directory', async () => {
    const missing = await resolveTrustedKey('keys/missing.pub', root).catch((e: unknown) => e)
    expect((missing as Error).message).toBe(
      `"keys/missing.pub" ${NEITHER} (${join(root, 'keys/missing.pub')}: ENOENT)`,
    )
    const dir = await resolveTrustedKey('.', root).catch((e: unknown) => e)
    expect((dir as Error).message).toBe(`"." ${NEITHER} (${root}: EISDIR)`)
  })

  it('takes long hex that is not a key for a mistyped key, cut short in the message', async () => {
    const err = await resolveTrustedKey(KEY.slice(2), root).catch((e: unknown) => e)
    expect((err as Error).message).toBe(`"${KEY.slice(2, 79)}..." ${NEITHER}`)
  })

  it('says so through the config, with the field and where it was given', async () => {
    const err = await loadConfig({
      dir: join(root, 'node'),
      env: {},
      cwd: root,
      flags: { trusted_authorities: ['abcd'] },
    }).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(InvalidConfigError)
    expect((err as Error).message).toBe(
      `trusted_authorities[0] (flag --trust): "abcd" ${NEITHER} (${join(root, 'abcd')}: ENOENT)`,
    )
  })
})

describe("the authority's secret key file as a trusted key", () => {
  const warning = (path: string) =>
    `${path} holds a secret key (its seed), not only the public key: trust the public key alone (its hex, or the .pub file beside an authority key); the secret key should not be copied to nodes`

  it('is accepted, with a warning', async () => {
    const c = collector()
    expect(await resolveTrustedKey('authority.json', root, c.warn)).toBe(authority.publicKey)
    expect(c.messages).toEqual([warning(authority.path)])
    const d = collector()
    expect(await readPublicKeyFile(authority.path, d.warn)).toBe(authority.publicKey)
    expect(d.messages).toEqual([warning(authority.path)])
  })

  it("warns for a node's audit-key.json too (it holds that node's secret)", async () => {
    const nodeDir = join(root, 'n1')
    const key = await loadOrCreateAuditKey(nodeDir)
    const c = collector()
    expect(await resolveTrustedKey(join(nodeDir, 'audit-key.json'), root, c.warn)).toBe(toHex(key.publicKey))
    expect(c.messages).toEqual([warning(join(nodeDir, 'audit-key.json'))])
  })

  it('does not warn for the .pub file, the hex, or a JSON file with the public key only', async () => {
    const c = collector()
    expect(await resolveTrustedKey('authority.json.pub', root, c.warn)).toBe(authority.publicKey)
    expect(await resolveTrustedKey(authority.publicKey, root, c.warn)).toBe(authority.publicKey)
    expect(await resolveTrustedKey('public-only.json', root, c.warn)).toBe(KEY)
    expect(c.messages).toEqual([])
    expect((await readFile(`${authority.path}.pub`, 'utf8')).trim()).toBe(authority.publicKey)
  })

  it('warns on stderr by default, as `start --trust` loads it', async () => {
    const written: string[] = []
    vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
      written.push(String(chunk))
      return true
    })
    const config = await loadConfig({
      dir: join(root, 'node'),
      env: {},
      cwd: root,
      flags: { trusted_authorities: ['authority.json'], allow_no_snapshot: true },
    })
    vi.restoreAllMocks()
    expect(config.trustedAuthorities).toEqual([authority.publicKey])
    expect(written).toEqual([`warning: ${warning(authority.path)}\n`])
  })
})
