import { randomBytes } from 'node:crypto'
import { lstat, mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises'
import { dirname, join, resolve } from 'node:path'
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { toHex } from '../core/bytes.js'
import { oneLine } from '../core/errors.js'
import { publicKeyHash } from '../log/checkpoint.js'
import { loadAuditPublicKey, loadOrCreateAuditKey } from '../log/keys.js'
import { publishSecretFile, readSecretFile } from '../log/secret-file.js'
import { ensureNodeId, readNodeId } from '../node/identity.js'
import { InvalidDataDirError } from './errors.js'
import { firstDuplicateKey } from './json-duplicates.js'

export const RUN_SCHEMA = 'qfs-node-run/1'

/** The files of a node's data directory (docs/operations.md "Data directory"). */
export function dataPaths(dir: string) {
  return {
    dir,
    node: join(dir, 'node.json'),
    peerKey: join(dir, 'peer-key'),
    auditKey: join(dir, 'audit-key.json'),
    db: join(dir, 'db'),
    config: join(dir, 'config.json'),
    snapshot: join(dir, 'snapshot.json'),
    /** The last snapshot adopted (epoch, hash, eligible set): what a restart compares against. */
    snapshotHead: join(dir, 'snapshot-head.json'),
    /**
     * Every snapshot the node adopted, as `epoch-<n>.json`: records keep the epoch they were placed
     * in, so a restart must still know the earlier epochs to check them.
     */
    snapshotHistory: join(dir, 'snapshots'),
    run: join(dir, 'run.json'),
  }
}

export interface NodeIdentity {
  nodeId: string
  privateKey: PrivateKey
  /** SHA3-256 of the node's ML-DSA-65 audit public key, hex. */
  auditPublicKeyHash: string
  auditPublicKey: string
}

export interface InitResult extends NodeIdentity {
  /** False when the directory already held a node (nothing was changed). */
  created: boolean
  dir: string
}

/**
 * Creates a node's identity in `dir`: the libp2p Ed25519 key (its peer id is the node id), the
 * ML-DSA-65 audit key, then `node.json`, written last so its presence means the rest is complete. An
 * existing node is reported as it is, never overwritten; a crash half way is finished on the next run.
 */
export async function initDataDir(dir: string): Promise<InitResult> {
  const paths = dataPaths(dir)
  await makeDirectories(dir, 0o700)
  if (await exists(paths.node)) {
    const identity = await readNodeIdentity(dir)
    // The audit key's seed as start reads it: a file others may read is refused here too.
    await loadOrCreateAuditKey(dir)
    return { ...identity, created: false, dir }
  }
  let privateKey = await readPeerKey(paths.peerKey)
  if (privateKey === undefined) {
    privateKey = await generateKeyPair('Ed25519')
    await publishSecretFile(paths.peerKey, privateKeyToProtobuf(privateKey))
    // Another init may have won the race on the same directory: use whatever key is on disk.
    privateKey = (await readPeerKey(paths.peerKey))!
  }
  const auditKey = await loadOrCreateAuditKey(dir)
  const nodeId = peerIdFromPrivateKey(privateKey).toString()
  await ensureNodeId(dir, nodeId)
  return {
    nodeId,
    privateKey,
    auditPublicKey: toHex(auditKey.publicKey),
    auditPublicKeyHash: publicKeyHash(auditKey.publicKey),
    created: true,
    dir,
  }
}

/** The node's id and peer key, checked against each other; `NOT_A_NODE_DIR` without node.json. */
export async function readNodeIdentity(dir: string): Promise<NodeIdentity> {
  const paths = dataPaths(dir)
  const nodeId = await readNodeId(dir)
  const privateKey = await readPeerKey(paths.peerKey)
  if (privateKey === undefined)
    throw new InvalidDataDirError(`${paths.peerKey} is missing; node.json names ${nodeId}`)
  const keyId = peerIdFromPrivateKey(privateKey).toString()
  if (keyId !== nodeId)
    throw new InvalidDataDirError(`${paths.peerKey} is the key of ${keyId}, node.json names ${nodeId}`)
  const auditPublicKey = await loadAuditPublicKey(dir)
  return {
    nodeId,
    privateKey,
    auditPublicKey: toHex(auditPublicKey),
    auditPublicKeyHash: publicKeyHash(auditPublicKey),
  }
}

async function readPeerKey(path: string): Promise<PrivateKey | undefined> {
  const bytes = await readSecretFile(path)
  if (bytes === undefined) return undefined
  let key: PrivateKey
  try {
    key = privateKeyFromProtobuf(bytes)
  } catch (err) {
    throw new InvalidDataDirError(`${path} is not a protobuf libp2p private key`, { cause: err })
  }
  // The node signs its acceptances with it, checked with the key its peer id carries (docs/protocol.md 4.7).
  if (key.type !== 'Ed25519') {
    throw new InvalidDataDirError(
      `${path} is a ${key.type} key: a node's peer key must be Ed25519, as init makes it`,
    )
  }
  return key
}

/** `run.json`: what a running daemon tells other programs (status, aegis sign --node-dir). */
export interface RunInfo {
  schema: typeof RUN_SCHEMA
  pid: number
  node_id: string
  multiaddrs: string[]
  api: string
}

export async function writeRunInfo(dir: string, info: Omit<RunInfo, 'schema'>): Promise<void> {
  await writeAtomic(
    dataPaths(dir).run,
    `${JSON.stringify({ schema: RUN_SCHEMA, ...info }, null, 2)}\n`,
    0o644,
  )
}

/** The run file, or undefined when no daemon has announced itself in `dir`. */
export async function readRunInfo(dir: string): Promise<RunInfo | undefined> {
  const path = dataPaths(dir).run
  const value = await readJson(path)
  if (value === undefined) return undefined
  const ok =
    value.schema === RUN_SCHEMA &&
    Number.isSafeInteger(value.pid) &&
    typeof value.node_id === 'string' &&
    Array.isArray(value.multiaddrs) &&
    value.multiaddrs.every((a) => typeof a === 'string') &&
    typeof value.api === 'string'
  if (!ok) throw new InvalidDataDirError(`${path} is not a ${RUN_SCHEMA} file`)
  return value as unknown as RunInfo
}

/**
 * Signal 0 checks that a process exists; EPERM means it does, under another user. Pids below 1 name
 * process groups (`kill(0)` is our own), never a daemon.
 */
export function processAlive(pid: number): boolean {
  if (!Number.isSafeInteger(pid) || pid < 1) return false
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

export async function removeRunInfo(dir: string): Promise<void> {
  await rm(dataPaths(dir).run, { force: true })
}

/**
 * A JSON object file of the data directory, or undefined when absent (`INVALID_DATA_DIR` if not an
 * object, or if an object gives a key twice).
 */
export async function readJson(path: string): Promise<Record<string, unknown> | undefined> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw err
  }
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch (err) {
    throw new InvalidDataDirError(`${path} is not JSON`, { cause: err })
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new InvalidDataDirError(`${path} is not a JSON object`)
  }
  // The node writes these files with JSON.stringify, which never repeats a key: a repeated one was
  // put there by hand, and which of the two counts would depend on the reader (snapshot-head.json's epoch).
  const twice = firstDuplicateKey(text)
  if (twice !== undefined)
    throw new InvalidDataDirError(`${path} gives ${oneLine(twice)} twice in one object`)
  return value as Record<string, unknown>
}

/**
 * `INVALID_DATA_DIR` when `dir` is a file (or lies under one); a directory that does not exist yet
 * passes, since `init` creates it and every other command reports it missing in its own words.
 */
export async function refuseNonDirectory(dir: string): Promise<void> {
  try {
    if ((await stat(dir)).isDirectory()) return
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'ENOENT') return
    if (code !== 'ENOTDIR') throw err
  }
  throw new InvalidDataDirError(`the data directory ${dir} is not a directory`)
}

/**
 * `mkdir -p` made level by level. Node's recursive mkdir never returns where the kernel answers
 * ENOENT under a parent that exists (procfs, sysfs: `init --dir /proc/x` hung); here each missing
 * level is made once and a refusal is the filesystem's own error. A file on the way is
 * `INVALID_DATA_DIR`, as for every other command.
 */
async function makeDirectories(dir: string, mode: number): Promise<void> {
  await refuseNonDirectory(dir)
  const missing: string[] = []
  for (let level = resolve(dir); !(await exists(level)); level = dirname(level)) {
    missing.push(level)
    if (dirname(level) === level) break
  }
  for (const level of missing.reverse()) {
    try {
      await mkdir(level, { mode })
    } catch (err) {
      // Another init made it meanwhile, or a dangling symbolic link is in the way: checked below.
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
    }
  }
  try {
    if ((await stat(dir)).isDirectory()) return
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code !== 'ENOENT' && code !== 'ENOTDIR') throw err
  }
  const dangling = await lstat(dir).then(
    (s) => s.isSymbolicLink(),
    () => false,
  )
  throw new InvalidDataDirError(
    dangling
      ? `the data directory ${dir} is a symbolic link to a path that does not exist`
      : `the data directory ${dir} is not a directory`,
  )
}

/** Whether anything is at `path` (a dangling symbolic link counts as nothing); other errors throw. */
export async function exists(path: string): Promise<boolean> {
  try {
    await stat(path)
    return true
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false
    throw err
  }
}

/** Write to a temporary name, then rename: readers see the old file or the new one, never half. */
export async function writeAtomic(path: string, text: string, mode: number): Promise<void> {
  const tmp = `${path}.${process.pid}.${toHex(randomBytes(6))}.tmp`
  try {
    await writeFile(tmp, text, { mode })
    await rename(tmp, path)
  } catch (err) {
    // Nothing of a failed write stays behind (a directory in the way of the rename, a full disk).
    await rm(tmp, { force: true }).catch(() => {})
    throw err
  }
}
