import type { FileHandle } from 'node:fs/promises'
import { open, stat } from 'node:fs/promises'
import { type Command, Option } from 'commander'
import type { StoreResponse, StoreSuccess } from '../../engine/responses.js'
import type { ContentSource } from '../../engine/write.js'
import type { QfsClient } from '../../sdk/client.js'
import { failureCause } from '../../sdk/failures.js'
import { FileChangedError, InvalidArgumentError, unreadableFile } from '../errors.js'
import { type CliIo, printJson } from '../io.js'
import { createProgress } from '../progress.js'
import {
  collect,
  failWith,
  integerOption,
  NODE_HELP,
  nodeOption,
  versionOption,
  withClient,
} from './client-common.js'

interface PutOptions {
  node: string
  namespace: string
  id: string
  tag: string[]
  version?: string
  author?: string
  tick: string
  json?: boolean
  text?: boolean
}

const READ_CHUNK = 1024 * 1024

/**
 * author_node_id when --author is not given. Not the coordinating node's id: the record would then
 * change with --node, and the natural retry of a write whose coordinator died (WRITE_OUTCOME_UNKNOWN,
 * "send the identical write again") goes through another node.
 */
export const DEFAULT_AUTHOR = 'qfs-cli'

const PUT_HELP = `
created_at_tick is a DeterministicTime tick, never the wall clock: the CLI has no network clock to
read, so it is what --tick says, 0 by default. A tick that does not depend on when the command ran
keeps hash_commit a function of the file and the arguments alone, so re-running a put that failed
half-way, through the same node or any other, is the same write again (idempotent), not a
conflicting one. For the same reason --author defaults to a fixed name, not to the node written through.

An empty --namespace or --id is refused (exit 2): it is most often a shell variable that is not
set. The protocol itself allows empty strings in objectId(namespace, id); the SDK takes them.`

export function registerPut(program: Command, io: CliIo): void {
  program
    .command('put')
    .description('store FILE as a version of the object objectId(NAMESPACE, ID), streamed from disk')
    .argument('<file>', 'the file to store')
    .requiredOption('--node <multiaddr>', NODE_HELP)
    .requiredOption('--namespace <namespace>', 'object namespace (not empty)')
    .requiredOption('--id <client-id>', 'client-side id of the object within its namespace (not empty)')
    .option('--tag <tag>', 'a metadata tag (repeat for more)', collect, [])
    .option(
      '--version <n>',
      'the version to write (default: the latest decided version + 1, or above a version racing writers took or split)',
    )
    .option('--author <id>', `metadata author_node_id (default: ${DEFAULT_AUTHOR})`)
    .option('--tick <n>', 'metadata created_at_tick, a DeterministicTime tick', '0')
    .option('--json', 'print the write answer as JSON (the default)')
    // Both at once is a contradiction, refused like any usage error rather than one silently winning.
    .addOption(new Option('--text', 'print a short human summary instead of JSON').conflicts('json'))
    .addHelpText('after', PUT_HELP)
    .action(async (file: string, opts: PutOptions) => {
      const node = await nodeOption(opts.node)
      nonEmpty(opts.namespace, '--namespace')
      nonEmpty(opts.id, '--id')
      const explicit = opts.version === undefined ? undefined : versionOption(opts.version)
      const tick = integerOption(opts.tick, '--tick', 0)
      // Opened before anything is dialled: a file the system will not let us read fails here, as
      // the local failure it is, not as a node's during the upload.
      const input = await openInput(file)
      try {
        const [{ objectId }, { normalizeMetadata }, { writeNextVersion }] = await Promise.all([
          import('../../core/ids.js'),
          import('../../core/metadata.js'),
          import('../../sdk/versions.js'),
        ])
        const oid = objectId(opts.namespace, opts.id)
        const metadata = normalizeMetadata({
          author_node_id: opts.author ?? DEFAULT_AUTHOR,
          created_at_tick: tick,
          tags: opts.tag,
        })
        const answer = await withClient(node, async (qfs) => {
          if (explicit !== undefined) return store(io, qfs, oid, explicit, input, metadata)
          // A version another writer took or split: the file is read again for the next one.
          return writeNextVersion(qfs, oid, (version) => store(io, qfs, oid, version, input, metadata))
        })
        // The file failed us (it changed, or could not be read on): our error, not a node's answer.
        if (!answer.ok && answer.code === 'CONTENT_SOURCE_FAILED') {
          const failed = failureCause(answer)
          throw (failed as Error | undefined)?.cause ?? failed
        }
        // The write's JSON is the default output: programs read it (object_id, shard_ids, node sets).
        const json = opts.text !== true
        if (!answer.ok) failWith(io, answer, json)
        if (json) printJson(io, answer)
        else printStored(io, answer)
      } finally {
        await input.handle.close()
      }
    })
}

/** Only the CLI refuses an empty name (PUT_HELP says so); objectId() takes one. */
function nonEmpty(text: string, flag: string): void {
  if (text === '') {
    throw new InvalidArgumentError(
      `${flag} is empty (an unset shell variable?): put refuses an empty name, although objectId() allows one`,
    )
  }
}

/** The file to store, open, with its size when it was opened. */
interface InputFile {
  path: string
  handle: FileHandle
  size: number
}

/**
 * Opens FILE for reading. A path that names nothing is a bad argument (exit 2); one the system
 * refuses to open (EACCES, ...) is IO_ERROR (exit 3). Anything but a regular file is refused before
 * it is opened: opening a FIFO would wait for a writer.
 */
async function openInput(path: string): Promise<InputFile> {
  try {
    if (!(await stat(path)).isFile()) throw new InvalidArgumentError(`${path} is not a regular file`)
    const handle = await open(path, 'r')
    try {
      const info = await handle.stat()
      if (!info.isFile()) throw new InvalidArgumentError(`${path} is not a regular file`)
      return { path, handle, size: info.size }
    } catch (err) {
      await handle.close()
      throw err
    }
  } catch (err) {
    throw unreadableFile(path, err)
  }
}

/**
 * The open file as 1 MiB chunks from its start, read again for each attempt (writeNextVersion may
 * write another version). It must still have the size it had when opened: a file that grows or
 * shrinks meanwhile fails the write with FILE_CHANGED, before its END, so nothing is written.
 */
function fileSource(file: InputFile): ContentSource {
  return {
    size: file.size,
    chunks: {
      async *[Symbol.asyncIterator]() {
        // Positional reads on the handle, not a read stream: a stream made from a FileHandle closes
        // it when it ends, whatever autoClose says, and the next attempt would have no file to read.
        let read = 0
        try {
          for (;;) {
            // One byte past the size asked too: a file that grew shows it without another read.
            const want = Math.min(READ_CHUNK, file.size - read + 1)
            const chunk = Buffer.allocUnsafe(want)
            const { bytesRead } = await file.handle.read(chunk, 0, want, read)
            if (bytesRead === 0) break
            read += bytesRead
            if (read > file.size) {
              throw new FileChangedError(
                `${file.path} changed while it was read: it grew past the ${file.size} bytes it had when put opened it`,
              )
            }
            yield bytesRead === want ? chunk : chunk.subarray(0, bytesRead)
          }
        } catch (err) {
          throw unreadableFile(file.path, err)
        }
        if (read < file.size) {
          throw new FileChangedError(
            `${file.path} changed while it was read: it had ${file.size} bytes when put opened it, but ended after ${read}`,
          )
        }
      },
    },
  }
}

async function store(
  io: CliIo,
  client: QfsClient,
  oid: string,
  version: number,
  file: InputFile,
  metadata: unknown,
): Promise<StoreResponse> {
  const bar = createProgress(io, { label: `put v${version}`, total: file.size })
  try {
    return await client.putContent(oid, version, fileSource(file), metadata, {
      onProgress: (p) => bar.update(p.bytes),
    })
  } finally {
    bar.finish()
  }
}

function printStored(io: CliIo, a: StoreSuccess): void {
  io.stdout(`stored ${a.object_id} v${a.version} (${a.kind}, ${a.content_size} bytes)\n`)
  io.stdout(`hash_commit ${a.hash_commit}\n`)
  io.stdout(`atr_cost ${a.atr_cost}\n`)
  for (const [i, id] of a.shard_ids.entries()) {
    const missing = a.under_replicated[id] ?? []
    io.stdout(
      `shard ${i} ${id} on ${a.replica_sets[id]!.join(', ')}` +
        (missing.length > 0 ? ` (not confirmed: ${missing.join(', ')})` : '') +
        '\n',
    )
  }
  io.stdout(`storage_event_id ${a.storage_event_id}\n`)
}
