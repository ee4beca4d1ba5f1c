import type { Command } from 'commander'
import { type ReplayReport, replayNodeDir, scrubNodeDir, verifyNodeDir } from '../../node/inspect.js'
import { CliExit, type CliIo, EXIT, printJson } from '../io.js'

/** Offline checks of a stopped node's data directory: its log, its state against its log, its blocks. */
export function registerInspect(program: Command, io: CliIo): void {
  const log = program.command('log').description('the node audit log (EQM)')
  log
    .command('verify')
    .description('walk the log: every hash link, checkpoint signature and coverage; name the first bad entry')
    .requiredOption('--dir <dir>', 'node data directory (the node must be stopped)')
    .option('--json', 'print the verdict as JSON')
    .action(async (opts: { dir: string; json?: boolean }) => {
      const v = await verifyNodeDir(opts.dir)
      if (opts.json === true) printJson(io, v)
      else if (v.ok)
        io.stdout(`log of ${v.node_id} intact: ${v.entries} entries, ${v.checkpoints} signed checkpoints\n`)
      else io.stdout(`log of ${v.node_id} BROKEN at entry ${v.first_bad_seq}: ${v.reason}\n`)
      if (!v.ok) throw new CliExit(EXIT.CHECK_FAILED)
    })

  program
    .command('replay')
    .description("rebuild the node's object index and metrics from its log and compare with its store")
    .requiredOption('--dir <dir>', 'node data directory (the node must be stopped)')
    .option('--json', 'print the report as JSON')
    .action(async (opts: { dir: string; json?: boolean }) => {
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
