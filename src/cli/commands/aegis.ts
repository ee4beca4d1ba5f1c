import { readFile } from 'node:fs/promises'
import { multiaddr } from '@multiformats/multiaddr'
import type { Command } from 'commander'
import { InvalidInputError } from '../../core/errors.js'
import { DEFAULT_PARAMS, type ProtocolParams, validateParams } from '../../core/params.js'
import { DEFAULT_EPOCH_TICKS, epochStartTick } from '../../core/time.js'
import {
  createAuthorityKeyFile,
  keyFingerprint,
  readAuthorityKeyFile,
  resolveTrustedKey,
} from '../../daemon/authority-key.js'
import { loadConfig } from '../../daemon/config.js'
import { exists, readRunInfo } from '../../daemon/data-dir.js'
import { MembershipChangeUnsupportedError } from '../../daemon/errors.js'
import { unservableParams } from '../../daemon/snapshot-adoption.js'
import { readSnapshotFile, writeSnapshotFile } from '../../daemon/snapshot-file.js'
import { loadAuditPublicKey } from '../../log/keys.js'
import { SnapshotRejectedError } from '../../membership/errors.js'
import {
  createSnapshot,
  type EpochSnapshot,
  epochViewOf,
  isEd25519PeerIdText,
  isPeerIdText,
  type SnapshotVerdict,
  signSnapshot,
  verifySnapshot,
} from '../../membership/snapshot.js'
import type { NodeEntry } from '../../membership/types.js'
import { readNodeId } from '../../node/identity.js'
import { errnoReason, LocalFileError, oneLine } from '../errors.js'
import { CliExit, type CliIo, EXIT, printJson } from '../io.js'
import { InvalidArgumentError, integerOption, refuseEmptyOut } from './client-common.js'

const collect = (value: string, previous: string[] | undefined) => [...(previous ?? []), value]

interface SignOptions {
  key: string
  nodes?: string
  nodeDir?: string[]
  epoch?: string
  startTick?: string
  prev?: string
  params?: string
  trust?: string[]
  out: string
  force?: boolean
  json?: boolean
}

/** The AEGIS authority's tools: a signing key, signed epoch snapshots, and their verification. */
export function registerAegis(program: Command, io: CliIo): void {
  const aegis = program.command('aegis').description('AEGIS authority: keys and signed epoch snapshots')

  aegis
    .command('keygen')
    .description('create an ML-DSA-65 authority key (FILE, mode 600) and its public key (FILE.pub)')
    .requiredOption('--out <file>', 'where to write the key; never overwritten')
    .option('--json', 'print {key_file, public_key_file, public_key_hash}')
    .action(async (opts: { out: string; json?: boolean }) => {
      refuseEmptyOut(opts.out, '--out')
      // Refused here as the wrong argument it is (as `sign --out` is); the library's own refusal
      // stays behind it for a file that appears meanwhile.
      if (await exists(opts.out))
        throw new InvalidArgumentError(
          `${opts.out} exists: keygen never overwrites a key; give another --out`,
        )
      const { key, publicPath } = await writingOut(opts.out, () => createAuthorityKeyFile(opts.out))
      const hash = keyFingerprint(key.publicKey)
      if (opts.json === true)
        printJson(io, { key_file: opts.out, public_key_file: publicPath, public_key_hash: hash })
      else
        io.stdout(`authority key ${opts.out} (mode 600)\npublic key   ${publicPath}\nkey hash     ${hash}\n`)
    })

  aegis
    .command('sign')
    .description('sign the epoch snapshot of the given nodes with the authority key')
    .requiredOption('--key <file>', 'authority key file (aegis keygen)')
    .option('--nodes <file>', 'JSON list of {node_id, multiaddrs, mldsa_public_key}')
    .option(
      '--node-dir <dir>',
      'a node data directory to include (id, audit key, addresses), repeatable',
      collect,
    )
    .option('--epoch <n>', 'epoch number (required without --prev; with it, default the previous epoch + 1)')
    .option('--start-tick <n>', `first tick of the epoch (default epoch × ${DEFAULT_EPOCH_TICKS})`)
    .option('--prev <snapshot>', 'the snapshot of the previous epoch, which this one follows')
    .option(
      '--trust <key|file>',
      'another authority whose --prev this key may follow (a key rotation), repeatable; --key itself is always trusted',
      collect,
    )
    .option(
      '--params <file>',
      'protocol parameters, snake_case JSON (default: the previous snapshot, else defaults)',
    )
    .requiredOption('--out <file>', 'where to write the signed snapshot (an existing file only with --force)')
    .option('--force', 'replace --out if it exists')
    .option('--json', 'print {epoch, snapshot_hash, nodes, out}')
    .action(async (opts: SignOptions) => {
      refuseEmptyOut(opts.out, '--out')
      // The file a network runs on is often the --prev of the next epoch: overwriting it by a slip
      // breaks every later link to it.
      if (opts.force !== true && (await exists(opts.out))) {
        throw new InvalidArgumentError(`${opts.out} exists: give --force to replace it, or another --out`)
      }
      const key = await readAuthorityKeyFile(opts.key)
      // The previous epoch must come from this authority (or one it takes over from): its node list
      // and parameters are carried on, so a stranger's file would have them signed unseen.
      const prevSigners = [
        key.publicKey,
        ...(await Promise.all((opts.trust ?? []).map((t) => resolveTrustedKey(t, process.cwd())))),
      ]
      const prev = opts.prev === undefined ? undefined : await readPrevious(opts.prev, prevSigners)
      const epoch =
        opts.epoch !== undefined
          ? integerOption(opts.epoch, '--epoch', 0)
          : prev !== undefined
            ? prev.epoch + 1
            : undefined
      if (epoch === undefined) throw new InvalidArgumentError('--epoch is required without --prev')
      const startTick =
        opts.startTick !== undefined
          ? integerOption(opts.startTick, '--start-tick', 0)
          : epochStartTick(epoch, DEFAULT_EPOCH_TICKS)
      const nodes = [
        ...(opts.nodes === undefined ? [] : await nodesFromFile(opts.nodes)),
        ...(await Promise.all((opts.nodeDir ?? []).map(nodeFromDir))),
      ]
      if (nodes.length === 0)
        throw new InvalidArgumentError('no nodes: give --nodes FILE and/or --node-dir DIR')
      if (prev !== undefined) refuseMembershipChange(prev, nodes)
      refuseSharedAuditKeys(nodes)
      const params =
        opts.params !== undefined
          ? await paramsFromFile(opts.params)
          : prev !== undefined
            ? epochViewOf(prev).params
            : DEFAULT_PARAMS
      const unservable = unservableParams(params)
      if (unservable !== undefined)
        throw new InvalidInputError(`no node can serve these parameters: ${unservable}`)
      const body = createSnapshot({
        epoch,
        startTick,
        nodes,
        params,
        previous: prev,
        authorityPublicKey: key.publicKey,
      })
      const snapshot = signSnapshot(body, key)
      // The chain is checked here too, so a wrong --epoch or --start-tick fails before anyone loads the file.
      const verdict = verifySnapshot(snapshot, [key.publicKey], prev)
      if (!verdict.ok) throw new SnapshotRejectedError(verdict.code, verdict.detail)
      await writingOut(opts.out, () => writeSnapshotFile(opts.out, snapshot))
      // Signed all the same (a network may be built up epoch by epoch), but no write can be placed in it.
      if (nodes.length < params.replicationFactor) {
        io.stderr(
          `warning: the snapshot lists ${nodes.length} node${nodes.length === 1 ? '' : 's'}, fewer than replication_factor ${params.replicationFactor}: every write will fail with INSUFFICIENT_NODES\n`,
        )
      }
      const summary = { epoch, snapshot_hash: snapshot.snapshot_hash, nodes: nodes.length, out: opts.out }
      if (opts.json === true) printJson(io, summary)
      else
        io.stdout(
          `epoch ${epoch}: ${nodes.length} node${nodes.length === 1 ? '' : 's'}, snapshot_hash ${snapshot.snapshot_hash}\nwritten to ${opts.out}\n`,
        )
    })

  aegis
    .command('verify')
    .description('check a snapshot: structure, hash, a trusted signature, and the chain from --prev')
    .argument('<snapshot>', 'snapshot file')
    .requiredOption('--trust <key|file>', 'trusted authority public key (hex or file), repeatable', collect)
    .option('--prev <snapshot>', 'the previous snapshot this one must follow')
    .option('--json', 'print the verdict as JSON')
    .action(async (file: string, opts: { trust: string[]; prev?: string; json?: boolean }) => {
      const trusted = await Promise.all(opts.trust.map((t) => resolveTrustedKey(t, process.cwd())))
      const snapshot = await readSnapshotToVerify(file)
      let previous: EpochSnapshot | undefined
      if (opts.prev !== undefined) {
        const value = await readSnapshotFile(opts.prev)
        // A missing file is a wrong argument, as for the snapshot itself; not a refused snapshot.
        if (value === undefined) throw new InvalidArgumentError(`--prev ${opts.prev} does not exist`)
        const p = verifySnapshot(value, trusted)
        if (!p.ok) throw new SnapshotRejectedError(p.code, `--prev ${opts.prev}: ${p.detail}`)
        previous = p.snapshot
      }
      // Text that is not JSON gets the verdict form too: it is a refused snapshot, like `{}`.
      const v = snapshot.ok ? verifySnapshot(snapshot.value, trusted, previous) : snapshot
      if (opts.json === true) {
        printJson(
          io,
          v.ok
            ? {
                ok: true,
                epoch: v.snapshot.epoch,
                snapshot_hash: v.snapshot.snapshot_hash,
                nodes: v.snapshot.nodes.length,
              }
            : v,
        )
      } else if (v.ok) {
        io.stdout(
          `valid: epoch ${v.snapshot.epoch}, ${v.snapshot.nodes.length} node${v.snapshot.nodes.length === 1 ? '' : 's'}, snapshot_hash ${v.snapshot.snapshot_hash}, ` +
            `authority ${keyFingerprint(v.snapshot.authority_public_key)}\n`,
        )
      } else {
        io.stdout(`INVALID [${v.code}]: ${v.detail}\n`)
      }
      if (!v.ok) throw new CliExit(EXIT.CHECK_FAILED)
    })
}

/**
 * Runs a write of `--out`: the files are written under a temporary name beside it and then given
 * its name, so the system's refusal (ENOENT for a directory that does not exist, EACCES, ...) named
 * `out.<pid>.<hex>.tmp`, a file the user never gave. It names `--out` (or its `.pub`) instead.
 */
async function writingOut<T>(out: string, write: () => Promise<T>): Promise<T> {
  try {
    return await write()
  } catch (err) {
    const e = err as NodeJS.ErrnoException
    if (e === null || typeof e !== 'object' || typeof e.code !== 'string' || typeof e.syscall !== 'string')
      throw err
    const named = e.path === `${out}.pub` ? e.path : out
    throw new LocalFileError(`cannot write ${named}: ${errnoReason(e)}`, { cause: err })
  }
}

/** The JSON of the snapshot to verify, or the MALFORMED verdict when it is not JSON. */
async function readSnapshotToVerify(
  path: string,
): Promise<{ ok: true; value: unknown } | Extract<SnapshotVerdict, { ok: false }>> {
  try {
    const value = await readSnapshotFile(path)
    if (value === undefined) throw new InvalidArgumentError(`${path} does not exist`)
    return { ok: true, value }
  } catch (err) {
    if (!(err instanceof SnapshotRejectedError)) throw err
    return { ok: false, code: err.reason, detail: err.detail }
  }
}

/** The previous snapshot, intact and signed by one of `signers` (`SNAPSHOT_REJECTED` otherwise). */
async function readPrevious(path: string, signers: readonly (string | Uint8Array)[]): Promise<EpochSnapshot> {
  const value = await readSnapshotFile(path)
  if (value === undefined) throw new InvalidArgumentError(`--prev ${path} does not exist`)
  const v = verifySnapshot(value, signers)
  if (!v.ok) {
    const hint =
      v.code === 'UNTRUSTED_AUTHORITY'
        ? ' (it is not signed by --key; add --trust KEY to follow a snapshot of another authority)'
        : ''
    throw new SnapshotRejectedError(v.code, `--prev ${path}: ${v.detail}${hint}`)
  }
  return v.snapshot
}

/**
 * Two entries with one audit key: a copied audit-key.json, so one node holds another's signing key
 * and an auditor could not tell their checkpoints apart. Refused rather than signed with a warning.
 */
function refuseSharedAuditKeys(nodes: readonly NodeEntry[]): void {
  const byKey = new Map<string, string>()
  for (const n of nodes) {
    const other = byKey.get(n.mldsa_public_key)
    if (other !== undefined) {
      throw new InvalidInputError(
        `nodes ${other} and ${n.node_id} share one mldsa_public_key: each node needs its own audit key`,
      )
    }
    byKey.set(n.mldsa_public_key, n.node_id)
  }
}

async function readJsonFile(path: string, what: string): Promise<unknown> {
  try {
    return JSON.parse(await readFile(path, 'utf8'))
  } catch (err) {
    throw new InvalidInputError(`cannot read ${what} ${path}: ${oneLine((err as Error).message)}`)
  }
}

async function nodesFromFile(path: string): Promise<NodeEntry[]> {
  const value = await readJsonFile(path, '--nodes')
  const list = Array.isArray(value) ? value : (value as { nodes?: unknown })?.nodes
  if (!Array.isArray(list))
    throw new InvalidInputError(`${path} must hold a list of nodes (or {"nodes": [...]})`)
  return list.map((n, i) => {
    const e = n as Partial<NodeEntry>
    if (e === null || typeof e !== 'object' || !Array.isArray(e.multiaddrs)) {
      throw new InvalidInputError(`${path}: node ${i} must be {node_id, multiaddrs, mldsa_public_key}`)
    }
    checkMultiaddrs(e.multiaddrs, `${path}: node ${i}`)
    // docs/protocol.md 1: node id = peer id; any other id is placed on but never dialled.
    if (typeof e.node_id !== 'string' || !isPeerIdText(e.node_id)) {
      throw new InvalidInputError(
        `${path}: node ${i}: node_id ${JSON.stringify(e.node_id)?.slice(0, 80) ?? 'missing'} is not a libp2p peer id (12D3KooW…, as qfs-node init prints)`,
      )
    }
    // Its acceptances are checked with the key its id carries (docs/protocol.md 4.7).
    if (!isEd25519PeerIdText(e.node_id)) {
      throw new InvalidInputError(
        `${path}: node ${i}: node_id ${e.node_id.slice(0, 80)} is not the peer id of an Ed25519 key (12D3KooW…, as qfs-node init makes)`,
      )
    }
    return {
      node_id: e.node_id as string,
      multiaddrs: e.multiaddrs,
      mldsa_public_key: e.mldsa_public_key as string,
    }
  })
}

/**
 * A node from its data directory: id (node.json), audit key, and addresses from run.json when it is
 * running, else from its configuration (announce, or listen addresses with a fixed port).
 */
async function nodeFromDir(dir: string): Promise<NodeEntry> {
  const nodeId = await readNodeId(dir)
  const publicKey = Buffer.from(await loadAuditPublicKey(dir)).toString('hex')
  const run = await readRunInfo(dir)
  let addrs: string[]
  if (run !== undefined) addrs = run.multiaddrs
  else {
    const config = await loadConfig({ dir, env: {} })
    addrs =
      config.announce.length > 0 ? config.announce : config.listen.filter((a) => !/\/tcp\/0(\/|$)/.test(a))
  }
  checkMultiaddrs(addrs, dir)
  // A node listed without an address is one no peer can dial: every shard placed on it is lost.
  if (addrs.length === 0) {
    const why =
      run !== undefined
        ? 'its run.json lists none'
        : 'it has no run.json, and its configuration has no announce and listens on port 0 only'
    throw new InvalidArgumentError(
      `--node-dir ${dir}: node ${nodeId} has no address a peer could dial (${why}); ` +
        'set `listen` with a fixed port, or `announce`, in its config; or sign while it runs (`qfs-node start --dir D --allow-no-snapshot`: its run.json then names its addresses)',
    )
  }
  return { node_id: nodeId, multiaddrs: addrs, mldsa_public_key: publicKey }
}

function checkMultiaddrs(addrs: unknown[], where: string): asserts addrs is string[] {
  for (const a of addrs) {
    try {
      if (typeof a !== 'string') throw new Error('not a string')
      multiaddr(a)
    } catch {
      throw new InvalidInputError(`${where}: ${JSON.stringify(a)} is not a multiaddr`)
    }
  }
}

async function paramsFromFile(path: string): Promise<ProtocolParams> {
  const p = (await readJsonFile(path, '--params')) as Record<string, unknown>
  if (p === null || typeof p !== 'object' || Array.isArray(p))
    throw new InvalidInputError(`${path} must be an object`)
  const known = ['block_size_bytes', 'num_shards_per_object', 'replication_factor', 'schema_version']
  for (const k of Object.keys(p))
    if (!known.includes(k)) throw new InvalidInputError(`${path}: unknown parameter ${k}`)
  try {
    return validateParams({
      blockSizeBytes: p.block_size_bytes,
      numShardsPerObject: p.num_shards_per_object,
      replicationFactor: p.replication_factor,
      schemaVersion: p.schema_version,
    })
  } catch (err) {
    if (!(err instanceof InvalidInputError)) throw err
    // validateParams names the fields as the code does; the file has them in snake_case.
    const message = err.message.replace(/^[a-zA-Z]+/, (name) => SNAKE_PARAMS.get(name) ?? name)
    throw new InvalidInputError(`${path}: ${message}`, { cause: err })
  }
}

const SNAKE_PARAMS: ReadonlyMap<string, string> = new Map([
  ['blockSizeBytes', 'block_size_bytes'],
  ['numShardsPerObject', 'num_shards_per_object'],
  ['replicationFactor', 'replication_factor'],
  ['schemaVersion', 'schema_version'],
])

/**
 * Every node refuses a next epoch that adds or removes a node (MEMBERSHIP_CHANGE_UNSUPPORTED, until
 * the AEGIS handover exists): signing one would only stop the network from moving on.
 */
function refuseMembershipChange(prev: EpochSnapshot, nodes: readonly NodeEntry[]): void {
  const before = new Set(prev.nodes.map((n) => n.node_id))
  const after = new Set(nodes.map((n) => n.node_id))
  const added = [...after].filter((id) => !before.has(id))
  const removed = [...before].filter((id) => !after.has(id))
  if (added.length === 0 && removed.length === 0) return
  const list = (ids: string[]) => (ids.length === 0 ? 'none' : ids.join(', '))
  throw new MembershipChangeUnsupportedError(
    `the nodes differ from --prev's (added: ${list(added)}; removed: ${list(removed)}): nodes refuse a change of the eligible set until AEGIS supports it`,
  )
}
