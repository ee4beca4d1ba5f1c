import { createWriteStream } from 'node:fs'
import { rename, rm } from 'node:fs/promises'
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import type { Command } from 'commander'
import { QfsError } from '../../core/errors.js'
import { toFailure } from '../../sdk/failures.js'
import { type CliIo, printJson } from '../io.js'
import { createProgress, type Progress } from '../progress.js'
import { failWith, idArgument, NODE_HELP, nodeOption, versionOption, withClient } from './client-common.js'

interface GetOptions {
  node: string
  version?: string
  output: string
  json?: boolean
}

/**
 * Verified bytes only ever reach FILE whole: they stream into FILE.partial, which is renamed to FILE
 * once the last shard root and hash_commit have checked out, and removed on any failure.
 */
export function registerGet(program: Command, io: CliIo): void {
  program
    .command('get')
    .description(
      'read a version into FILE, verifying every byte against its record (Merkle roots, hash_commit)',
    )
    .argument('<object_id>', '64 lower-case hex characters')
    .requiredOption('--node <multiaddr>', NODE_HELP)
    .requiredOption(
      '-o, --output <file>',
      'where to write the content (via FILE.partial, renamed once verified)',
    )
    .option('--version <n>', 'the version to read (default: the latest)')
    .option('--json', 'print a JSON summary of the read')
    .action(async (oidText: string, opts: GetOptions) => {
      const oid = idArgument(oidText, 'OBJECT_ID')
      const node = nodeOption(opts.node)
      const version = opts.version === undefined ? undefined : versionOption(opts.version)
      const json = opts.json === true
      const partial = `${opts.output}.partial`
      const summary = await withClient(node, async (client) => {
        let bar: Progress | undefined
        const opened = await client.readContent(oid, version, { onProgress: (p) => bar?.update(p.bytes) })
        if (!('content' in opened)) failWith(io, opened, json)
        bar = createProgress(io, { label: `get v${opened.version}`, total: opened.content_size })
        try {
          await pipeline(Readable.from(opened.content, { objectMode: false }), createWriteStream(partial))
          await rename(partial, opts.output)
        } catch (err) {
          opened.cancel()
          await rm(partial, { force: true })
          if (err instanceof QfsError) failWith(io, toFailure(err, opened.storage_event_id), json)
          throw err
        } finally {
          bar.finish()
        }
        return {
          object_id: opened.object_id,
          version: opened.version,
          kind: opened.kind,
          hash_commit: opened.hash_commit,
          content_size: opened.content_size,
          metadata: opened.metadata,
          file: opts.output,
          proofs: opened.proofs,
          storage_event_id: opened.storage_event_id,
        }
      })
      if (json) printJson(io, summary)
      else {
        io.stdout(
          `wrote ${summary.content_size} bytes of ${summary.object_id} v${summary.version} to ${summary.file}\n` +
            `hash_commit ${summary.hash_commit} verified\n`,
        )
      }
    })
}
