import type { Command } from 'commander'
import { fromHex, isId } from '../../core/bytes.js'
import type { AuditKeySource, NodeLogVerification, ReplayReport } from '../../node/inspect.js'
import { InvalidArgumentError } from '../errors.js'
import { CliExit, type CliIo, EXIT, printJson } from '../io.js'

/** The offline checks (the store, the log, ML-DSA): loaded by the command that runs one. */
const inspection = () => import('../../node/inspect.js')

/** Offline checks of a stopped node's data directory: its log, its state against its log, its blocks. */
export function registerInspect(program: Command, io: CliIo): void {
  const log = program.command('log').description('the node audit log (EQM)')
  log
    .command('verify')
    .description('walk the log: every hash link, checkpoint signature and coverage; name the first bad entry')
    .requiredOption('--dir <dir>', 'node data directory (the node must be stopped)')
    .option(
      '--public-key <hex>',
      "the node's ML-DSA-65 audit public key to check signatures against, instead of DIR/audit-key.json",
    )
    .option(
      '--snapshot <file>',
      "check signatures against the node's mldsa_public_key in this epoch snapshot",
    )
    .option(
      '--trust <key|file>',
      'with --snapshot: trusted authority public key (hex or file), repeatable',
      collect,
    )
    .option(
      '--head <checkpoint_id>',
      'a last_checkpoint_id seen before: fail unless the log still holds it (default: the one DIR/log-head.json records)',
    )
    .option('--json', 'print the verdict as JSON')
    .action(async (opts: VerifyOptions) => {
      if (opts.head !== undefined && !isId(opts.head)) {
        throw new InvalidArgumentError('--head must be a checkpoint id: 64 lower-case hex characters')
      }
      const keySource = await keySourceOf(opts)
      const { verifyNodeDir } = await inspection()
      const v = await verifyNodeDir(opts.dir, keySource, { expectedHead: opts.head })
      if (opts.json === true) printJson(io, v)
      else io.stdout(verdictText(v))
      if (!v.ok) throw new CliExit(EXIT.CHECK_FAILED)
    })

  program
    .command('replay')
    .description("rebuild the node's object index and metrics from its log and compare with its store")
    .requiredOption('--dir <dir>', 'node data directory (the node must be stopped)')
    .option('--json', 'print the report as JSON')
    .action(async (opts: { dir: string; json?: boolean }) => {
      const { replayNodeDir } = await inspection()
      const r = await replayNodeDir(opts.dir)
      if (opts.json === true) printJson(io, r)
      else io.stdout(replayText(r))
      if (!r.equal) throw new CliExit(EXIT.CHECK_FAILED)
    })

  program
    .command('scrub')
    .description('re-hash every stored block against its manifest and report corrupt blocks by shard')
    .requiredOption('--dir <dir>', 'node data directory (the node must be stopped)')
    .option('--json', 'print the report as JSON')
    .action(async (opts: { dir: string; json?: boolean }) => {
      const { scrubNodeDir } = await inspection()
      const report = await scrubNodeDir(opts.dir)
      if (opts.json === true) printJson(io, report)
      else {
        io.stdout(`${report.node_id}: ${report.shards} shards, ${report.blocks} blocks checked\n`)
        for (const c of report.corrupt) {
          io.stdout(
            `  CORRUPT shard ${c.shard_id} (object ${c.object_id} v${c.version}): blocks ${c.blocks.join(', ')}\n`,
          )
        }
        if (report.corrupt.length === 0) io.stdout('  no corrupt block\n')
      }
      if (report.corrupt.length > 0) throw new CliExit(EXIT.CHECK_FAILED)
    })
}

const collect = (value: string, previous: string[] | undefined) => [...(previous ?? []), value]
const PUBLIC_KEY_HEX = /^[0-9a-f]{3904}$/

interface VerifyOptions {
  dir: string
  publicKey?: string
  snapshot?: string
  trust?: string[]
  head?: string
  json?: boolean
}

/** The key `log verify` checks against: the directory's own key file unless the auditor names one. */
async function keySourceOf(opts: VerifyOptions): Promise<AuditKeySource> {
  if (opts.publicKey !== undefined && opts.snapshot !== undefined) {
    throw new InvalidArgumentError('give --public-key or --snapshot, not both')
  }
  if (opts.trust !== undefined && opts.snapshot === undefined) {
    throw new InvalidArgumentError('--trust names the authority of a --snapshot; give the snapshot too')
  }
  if (opts.publicKey !== undefined) {
    if (!PUBLIC_KEY_HEX.test(opts.publicKey)) {
      throw new InvalidArgumentError(
        '--public-key must be an ML-DSA-65 public key: 3904 lower-case hex characters',
      )
    }
    return { kind: 'public-key', publicKey: fromHex(opts.publicKey, 'public key') }
  }
  if (opts.snapshot !== undefined) {
    // An unsigned or self-signed snapshot would let whoever wrote it pick the key: it must be signed
    // by an authority the auditor trusts, as `aegis verify` requires.
    if (opts.trust === undefined) {
      throw new InvalidArgumentError(
        '--snapshot needs --trust: the authority key the snapshot must be signed with',
      )
    }
    const [{ resolveTrustedKey }, { readSnapshotFile }] = await Promise.all([
      import('../../daemon/authority-key.js'),
      import('../../daemon/snapshot-file.js'),
    ])
    const trustedKeys = await Promise.all(opts.trust.map((t) => resolveTrustedKey(t, process.cwd())))
    const snapshot = await readSnapshotFile(opts.snapshot)
    if (snapshot === undefined) throw new InvalidArgumentError(`--snapshot ${opts.snapshot} does not exist`)
    return { kind: 'snapshot', snapshot, trustedKeys }
  }
  return { kind: 'key-file' }
}

/** The verdict's first line answers; the second names the signed head and the key, for comparison with earlier ones. */
function verdictText(v: NodeLogVerification): string {
  const first = v.ok
    ? `log of ${v.node_id} intact: ${v.entries} entries, ${v.checkpoints} signed checkpoints\n`
    : v.code === 'UNCOVERED_TAIL'
      ? `log of ${v.node_id} has an UNSIGNED TAIL from entry ${v.first_bad_seq} [${v.code}]: ${v.reason}\n`
      : v.first_bad_seq === null
        ? `log of ${v.node_id} CUT BACK [${v.code}]: ${v.reason}\n`
        : `log of ${v.node_id} BROKEN at entry ${v.first_bad_seq} [${v.code}]: ${v.reason}\n`
  const head =
    v.last_checkpoint_id === null
      ? 'signed head: none'
      : `signed head: entry ${v.head_seq} (${v.head_event_id}), checkpoint ${v.checkpoints - 1} (${v.last_checkpoint_id})`
  return `${first}  ${head}\n  key: ${v.public_key_hash} (from ${v.key_source})\n`
}

function metricsText(m: ReplayReport['live']): string {
  return `${m.objects} objects, ${m.versions} versions, ${m.shards} shards, ${m.bytes_stored} bytes`
}

/** The text form names both sides whenever they differ, so an operator sees which one lost what. */
function replayText(r: ReplayReport): string {
  if (r.equal) {
    return `state of ${r.node_id} rebuilt from its log equals its store: ${metricsText(r.live)} (state ${r.live_state_hash})\n`
  }
  return (
    `state of ${r.node_id} rebuilt from its log DIFFERS from its store\n` +
    `  store: ${metricsText(r.live)} (state ${r.live_state_hash})\n` +
    `  log:   ${metricsText(r.replayed)} (state ${r.replayed_state_hash})\n`
  )
}
