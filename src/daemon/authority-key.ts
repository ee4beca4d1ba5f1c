import { randomBytes } from 'node:crypto'
import { readFile, writeFile } from 'node:fs/promises'
import { resolve } from 'node:path'
import { fromHex, toHex } from '../core/bytes.js'
import { publicKeyHash } from '../log/checkpoint.js'
import { InsecureKeyFileError, InvalidKeyFileError } from '../log/errors.js'
import { generateAuditKey } from '../log/keys.js'
import { publishSecretFile, readSecretFile } from '../log/secret-file.js'
import type { AuthorityKey } from '../membership/snapshot.js'

export const AUTHORITY_KEY_SCHEMA = 'qfs-authority-key/1'
const PUBLIC_KEY_RE = /^[0-9a-f]{3904}$/
const SEED_RE = /^[0-9a-f]{64}$/

/**
 * An AEGIS authority key file: the 32-byte ML-DSA-65 seed (the whole secret) and the public key,
 * JSON, mode 0600. `FILE.pub` beside it holds the public key hex that nodes list as trusted.
 */
export async function createAuthorityKeyFile(
  path: string,
): Promise<{ key: AuthorityKey; publicPath: string }> {
  const seed = new Uint8Array(randomBytes(32))
  const key = generateAuditKey(seed)
  const body = {
    schema: AUTHORITY_KEY_SCHEMA,
    scheme: 'ML-DSA-65',
    seed: toHex(seed),
    public_key: toHex(key.publicKey),
  }
  // An existing key is never overwritten: it may be the only copy of a network's authority.
  if (!(await publishSecretFile(path, `${JSON.stringify(body, null, 2)}\n`))) {
    throw new InvalidKeyFileError(`${path} already exists; refusing to overwrite a key`)
  }
  const publicPath = `${path}.pub`
  await writeFile(publicPath, `${body.public_key}\n`, { mode: 0o644 })
  return { key, publicPath }
}

/** The key pair from an authority key file; a file readable by others is `INSECURE_KEY_FILE`. */
export async function readAuthorityKeyFile(path: string): Promise<AuthorityKey> {
  let bytes: Buffer | undefined
  try {
    bytes = await readSecretFile(path)
  } catch (err) {
    // A public key file (mode 644) fails the secret file's mode check first; saying so beats "chmod 600".
    if (err instanceof InsecureKeyFileError && (await holdsPublicKeyOnly(path))) throw publicKeyGiven(path)
    throw err
  }
  if (bytes === undefined) throw new InvalidKeyFileError(`${path} does not exist`)
  const text = bytes.toString('utf8')
  if (PUBLIC_KEY_RE.test(text.trim())) throw publicKeyGiven(path)
  const f = parseJsonObject(text, path)
  if (f.schema !== AUTHORITY_KEY_SCHEMA)
    throw new InvalidKeyFileError(`${path}: schema must be ${AUTHORITY_KEY_SCHEMA}`)
  if (typeof f.seed !== 'string' || !SEED_RE.test(f.seed))
    throw new InvalidKeyFileError(`${path}: seed must be 64 hex`)
  const key = generateAuditKey(fromHex(f.seed))
  if (f.public_key !== toHex(key.publicKey)) {
    throw new InvalidKeyFileError(`${path}: public_key does not belong to the seed`)
  }
  return key
}

function publicKeyGiven(path: string): InvalidKeyFileError {
  return new InvalidKeyFileError(
    `${path} holds a public key only: signing takes the authority's secret key file (the one aegis keygen wrote, without .pub)`,
  )
}

async function holdsPublicKeyOnly(path: string): Promise<boolean> {
  try {
    return PUBLIC_KEY_RE.test((await readFile(path, 'utf8')).trim())
  } catch {
    return false
  }
}

/** Where a warning about a trusted key goes by default: stderr, before any logger exists. */
export function warnOnStderr(message: string): void {
  process.stderr.write(`warning: ${message}\n`)
}

/**
 * A trusted public key from its file: bare hex (`FILE.pub`), or any of our key files with a
 * `public_key` field (the authority key file itself, a node's audit-key.json). A file that also
 * holds the secret (a `seed`) is accepted with a warning: trusting it invites copying the
 * authority's secret key to every node, where the public key alone is what a node needs.
 */
export async function readPublicKeyFile(
  path: string,
  warn: (message: string) => void = warnOnStderr,
): Promise<string> {
  let text: string
  try {
    text = await readKeyText(path)
  } catch (err) {
    throw new InvalidKeyFileError(`cannot read ${path}: ${errnoOf(err)}`, { cause: err })
  }
  return publicKeyIn(text, path, warn)
}

export function isPublicKeyHex(text: string): boolean {
  return PUBLIC_KEY_RE.test(text)
}

/**
 * A trusted key as given by an operator: the hex itself, or a file holding it (relative to `base`).
 * An entry that is neither says so, rather than only that no file has that name.
 */
export async function resolveTrustedKey(
  entry: string,
  base: string,
  warn: (message: string) => void = warnOnStderr,
): Promise<string> {
  if (PUBLIC_KEY_RE.test(entry)) return entry
  const neither = `${JSON.stringify(entry.length > 80 ? `${entry.slice(0, 77)}...` : entry)} is neither a hex ML-DSA-65 public key (3904 lower-case hex characters) nor a readable file`
  // Long hex that is not a key is a mistyped key, not a file name.
  if (/^[0-9a-fA-F]{64,}$/.test(entry)) throw new InvalidKeyFileError(neither)
  const path = resolve(base, entry)
  let text: string
  try {
    text = await readKeyText(path)
  } catch (err) {
    throw new InvalidKeyFileError(`${neither} (${path}: ${errnoOf(err)})`, { cause: err })
  }
  return publicKeyIn(text, path, warn)
}

async function readKeyText(path: string): Promise<string> {
  return (await readFile(path, 'utf8')).trim()
}

function errnoOf(err: unknown): string {
  return (err as NodeJS.ErrnoException).code ?? (err as Error).message
}

function publicKeyIn(text: string, path: string, warn: (message: string) => void): string {
  if (PUBLIC_KEY_RE.test(text)) return text
  const f = parseJsonObject(text, path)
  if (typeof f.public_key === 'string' && PUBLIC_KEY_RE.test(f.public_key)) {
    if (Object.hasOwn(f, 'seed')) {
      warn(
        `${path} holds a secret key (its seed), not only the public key: trust the public key alone (its hex, or the .pub file beside an authority key); the secret key should not be copied to nodes`,
      )
    }
    return f.public_key
  }
  throw new InvalidKeyFileError(`${path} holds no ML-DSA-65 public key (3904 lower-case hex characters)`)
}

/** A key's name for people and logs: SHA3-256 of the public key, as checkpoints name audit keys. */
export function keyFingerprint(publicKey: Uint8Array | string): string {
  return publicKeyHash(typeof publicKey === 'string' ? fromHex(publicKey) : publicKey)
}

function parseJsonObject(text: string, path: string): Record<string, unknown> {
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch (err) {
    throw new InvalidKeyFileError(`${path} is not JSON`, { cause: err })
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new InvalidKeyFileError(`${path} is not a JSON object`)
  }
  return value as Record<string, unknown>
}
