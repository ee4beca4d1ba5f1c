import { createReadStream } from 'node:fs'
import { stat } from 'node:fs/promises'
import type { Command } from 'commander'
import { objectId } from '../../core/ids.js'
import { normalizeMetadata } from '../../core/metadata.js'
import type { StoreResponse, StoreSuccess } from '../../engine/responses.js'
import type { ContentSource } from '../../engine/write.js'
import type { QfsClient } from '../../sdk/client.js'
import { writeNextVersion } from '../../sdk/versions.js'
import { type CliIo, printJson } from '../io.js'
import { createProgress } from '../progress.js'
import {
  collect,
  failWith,
  InvalidArgumentError,
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

const PUT_HELP = `
created_at_tick is a DeterministicTime tick, never the wall clock: the CLI has no network clock to
read, so it is what --tick says, 0 by default. A tick that does not depend on when the command ran
keeps hash_commit a function of the file and the arguments alone, so re-running a put that failed
half-way is the same write again (idempotent), not a conflicting one.

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
    .option('--author <id>', "metadata author_node_id (default: the coordinating node's peer id)")
    .option('--tick <n>', 'metadata created_at_tick, a DeterministicTime tick', '0')
    .option('--json', 'print the write answer as JSON (the default)')
    .option('--text', 'print a short human summary instead of JSON')
    .addHelpText('after', PUT_HELP)
    .action(async (file: string, opts: PutOptions) => {
      const node = nodeOption(opts.node)
      nonEmpty(opts.namespace, '--namespace')
      nonEmpty(opts.id, '--id')
      const explicit = opts.version === undefined ? undefined : versionOption(opts.version)
      const tick = integerOption(opts.tick, '--tick', 0)
      const size = await fileSize(file)
      const oid = objectId(opts.namespace, opts.id)
      const metadata = normalizeMetadata({
        author_node_id: opts.author ?? node.peerId,
        created_at_tick: tick,
        tags: opts.tag,
      })
      const answer = await withClient(node, async (client) => {
        if (explicit !== undefined) return store(io, client, oid, explicit, file, size, metadata)
        // A version another writer took or split: the file is read again for the next one.
        return writeNextVersion(client, oid, (version) =>
          store(io, client, oid, version, file, size, metadata),
        )
      })
      // The write's JSON is the default output: programs read it (object_id, shard_ids, node sets).
      const json = opts.text !== true
      if (!answer.ok) failWith(io, answer, json)
      if (json) printJson(io, answer)
      else printStored(io, answer)
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

async function fileSize(file: string): Promise<number> {
  let info: Awaited<ReturnType<typeof stat>>
  try {
    info = await stat(file)
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'unknown error'
    throw new InvalidArgumentError(`cannot read ${file}: ${code}`, { cause: err })
  }
  if (!info.isFile()) throw new InvalidArgumentError(`${file} is not a regular file`)
  return info.size
}

/** The file as 1 MiB chunks, opened only when the upload starts reading and closed however it ends. */
function fileSource(file: string, size: number): ContentSource {
  return {
    size,
    chunks: {
      async *[Symbol.asyncIterator]() {
        const stream = createReadStream(file, { highWaterMark: READ_CHUNK })
        try {
          for await (const chunk of stream) yield chunk as Buffer
        } finally {
          stream.destroy()
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
  file: string,
  size: number,
  metadata: unknown,
): Promise<StoreResponse> {
  const bar = createProgress(io, { label: `put v${version}`, total: size })
  try {
    return await client.putContent(oid, version, fileSource(file, size), metadata, {
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
