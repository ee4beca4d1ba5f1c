import type { Command } from 'commander'
import { CliExit, type CliIo, EXIT, printJson } from '../io.js'
import { integerOption } from './client-common.js'

export function registerDemo(program: Command, io: CliIo): void {
  program
    .command('demo')
    .description('split a sample object into shards, place them on a sample node list, and prove one block')
    .option('--size <bytes>', 'content size in bytes', '1048576')
    .option('--json', 'print the whole result as JSON')
    .action(async (opts: { size: string; json?: boolean }) => {
      const size = integerOption(opts.size, '--size', 0, 256 * 1024 * 1024)
      const { runCoreDemo } = await import('./demo-core.js')
      const result = runCoreDemo(size)
      if (opts.json === true) {
        printJson(io, result)
      } else {
        const shards = result.shards as Array<Record<string, unknown>>
        io.stdout(`object ${result.object_id} v${result.version}, ${size} bytes\n`)
        io.stdout(`hash_commit ${result.hash_commit}\n`)
        for (const s of shards) {
          io.stdout(
            `  shard ${s.shard_index} ${String(s.shard_id).slice(0, 16)}… ${s.length} B, ${s.block_count} blocks, ` +
              `root ${String(s.merkle_root).slice(0, 16)}… on ${(s.replicas as string[]).join(', ')}\n`,
          )
        }
        const proof = result.proof as Record<string, unknown> | null
        if (proof === null) io.stdout('no block to prove (empty content)\n')
        else
          io.stdout(
            `proof: block ${proof.leaf_index}/${proof.leaf_count} of shard ${String(proof.shard_id).slice(0, 16)}… ` +
              `${proof.verified === true ? 'verified' : 'NOT verified'}\n`,
          )
      }
      const proof = result.proof as Record<string, unknown> | null
      if (proof !== null && proof.verified !== true) throw new CliExit(EXIT.CHECK_FAILED)
    })
}
