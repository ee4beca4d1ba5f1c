import { randomBytes } from 'node:crypto'
import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { ml_dsa65 } from '@noble/post-quantum/ml-dsa.js'
import { equalBytes, fromHex, toHex } from '../core/bytes.js'
import { InvalidInputError } from '../core/errors.js'
import { InvalidKeyFileError } from './errors.js'
import { openRegularFile, publishSecretFile, readSecretFile } from './secret-file.js'

/** The node's checkpoint signing key (FIPS 204 ML-DSA-65, the standardized Dilithium3 class). */
export interface AuditKey {
  scheme: 'ML-DSA-65'
  publicKey: Uint8Array
  secretKey: Uint8Array
}

export const AUDIT_KEY_FILE = 'audit-key.json'
export const AUDIT_KEY_SCHEMA = 'qfs-audit-key/1'
export const SEED_BYTES = 32
export const PUBLIC_KEY_BYTES = 1952

interface KeyFile {
  schema: typeof AUDIT_KEY_SCHEMA
  scheme: 'ML-DSA-65'
  seed: string
  public_key: string
}

/** A key from a 32-byte seed (FIPS 204 `ML-DSA.KeyGen_internal(ξ)`), or from fresh randomness. */
export function generateAuditKey(seed?: Uint8Array): AuditKey {
  const xi = seed ?? new Uint8Array(randomBytes(SEED_BYTES))
  if (!(xi instanceof Uint8Array) || xi.length !== SEED_BYTES) {
    throw new InvalidInputError(`audit key seed must be ${SEED_BYTES} bytes`)
  }
  const { publicKey, secretKey } = ml_dsa65.keygen(xi)
  return { scheme: 'ML-DSA-65', publicKey, secretKey }
}

/**
 * The node's audit key from `<dir>/audit-key.json`, created on first use. The file keeps the seed
 * (the whole secret: the key pair is derived from it) and the public key, so a mismatch between the
 * two shows corruption. It is created with mode 0600 and published atomically (written to a
 * temporary name, synced, then hard-linked into place, which fails if another process won the race),
 * so a crash never leaves a half-written key. A file readable by group or others is refused
 * (`INSECURE_KEY_FILE`), as OpenSSH refuses such private keys; anything unparsable is `INVALID_KEY_FILE`.
 */
export async function loadOrCreateAuditKey(dir: string): Promise<AuditKey> {
  await mkdir(dir, { recursive: true, mode: 0o700 })
  const path = join(dir, AUDIT_KEY_FILE)
  const existing = await readKeyFile(path, true)
  if (existing !== undefined) return keyFromFile(existing, path)
  const seed = new Uint8Array(randomBytes(SEED_BYTES))
  const key = generateAuditKey(seed)
  const file: KeyFile = {
    schema: AUDIT_KEY_SCHEMA,
    scheme: 'ML-DSA-65',
    seed: toHex(seed),
    public_key: toHex(key.publicKey),
  }
  if (!(await publishSecretFile(path, `${JSON.stringify(file, null, 2)}\n`))) {
    // Another process created the key first: use theirs so the node has exactly one key.
    const theirs = await readKeyFile(path, true)
    if (theirs === undefined) throw new InvalidKeyFileError(`${path} vanished while being created`)
    return keyFromFile(theirs, path)
  }
  return key
}

/**
 * The public key recorded in `<dir>/audit-key.json`; `INVALID_KEY_FILE` if absent, bad, or not the
 * key of the seed beside it (the check the node's start makes: a public key that the node would
 * refuse to sign with must not be what its log is checked against). The file's mode is not checked,
 * so an auditor's copy need not be private.
 */
export async function loadAuditPublicKey(dir: string): Promise<Uint8Array> {
  const path = join(dir, AUDIT_KEY_FILE)
  const file = await readKeyFile(path, false)
  if (file === undefined) throw new InvalidKeyFileError(`${path} does not exist`)
  return keyFromFile(file, path).publicKey
}

interface ParsedKeyFile {
  seed: Uint8Array
  publicKey: Uint8Array
}

async function readKeyFile(path: string, secret: boolean): Promise<ParsedKeyFile | undefined> {
  let bytes: Buffer | undefined
  if (secret) bytes = await readSecretFile(path)
  else {
    // As the secret read: a directory is named as no key file (a bare EISDIR named no path), and a
    // FIFO is refused rather than waited on.
    const fh = await openRegularFile(path)
    if (fh !== undefined) {
      try {
        bytes = await fh.readFile()
      } finally {
        await fh.close()
      }
    }
  }
  return bytes === undefined ? undefined : parseKeyFile(bytes.toString('utf8'), path)
}

function parseKeyFile(text: string, path: string): ParsedKeyFile {
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch (err) {
    throw new InvalidKeyFileError(`${path} is not JSON`, { cause: err })
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new InvalidKeyFileError(`${path} is not a JSON object`)
  }
  const f = value as Record<string, unknown>
  if (f.schema !== AUDIT_KEY_SCHEMA)
    throw new InvalidKeyFileError(`${path}: schema must be ${AUDIT_KEY_SCHEMA}`)
  if (f.scheme !== 'ML-DSA-65') throw new InvalidKeyFileError(`${path}: scheme must be ML-DSA-65`)
  const seed = hexField(f.seed, SEED_BYTES, 'seed', path)
  const publicKey = hexField(f.public_key, PUBLIC_KEY_BYTES, 'public_key', path)
  return { seed, publicKey }
}

function keyFromFile(file: ParsedKeyFile, path: string): AuditKey {
  const key = generateAuditKey(file.seed)
  if (!equalBytes(key.publicKey, file.publicKey)) {
    throw new InvalidKeyFileError(`${path}: public_key does not belong to the seed`)
  }
  return key
}

function hexField(value: unknown, bytes: number, what: string, path: string): Uint8Array {
  if (typeof value !== 'string' || value.length !== 2 * bytes) {
    throw new InvalidKeyFileError(`${path}: ${what} must be ${2 * bytes} hex characters`)
  }
  try {
    return fromHex(value, what)
  } catch (err) {
    throw new InvalidKeyFileError(`${path}: ${what} is not lower-case hex`, { cause: err })
  }
}
