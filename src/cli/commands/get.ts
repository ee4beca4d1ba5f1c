import { randomBytes } from 'node:crypto'
import { type FileHandle, link, lstat, open, rename, rm, unlink } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'
import type { Command } from 'commander'
import { QfsError } from '../../core/errors.js'
import { toFailure } from '../../sdk/failures.js'
import { type CliIo, printJson } from '../io.js'
import { createProgress, type Progress } from '../progress.js'
import {
  failWith,
  InvalidArgumentError,
  idArgument,
  NODE_HELP,
  nodeOption,
  versionOption,
  withClient,
} from './client-common.js'

interface GetOptions {
  node: string
  version?: string
  output: string
  force?: boolean
  json?: boolean
}

/**
 * Verified bytes only ever reach FILE whole, and `get` never overwrites or deletes a file it did not
 * create: the content streams into a temporary file of a fresh random name in FILE's directory,
 * opened with `wx` (so it is ours), which becomes FILE only once the last shard root and hash_commit
 * have checked out, and is removed on any failure. An existing FILE is refused unless `--force`.
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
      'where to write the content (via a temporary file beside it, renamed once verified)',
    )
    .option('--version <n>', 'the version to read (default: the latest)')
    .option('--force', 'replace FILE if it already exists')
    .option('--json', 'print a JSON summary of the read')
    .action(async (oidText: string, opts: GetOptions) => {
      const oid = idArgument(oidText, 'OBJECT_ID')
      const node = nodeOption(opts.node)
      const version = opts.version === undefined ? undefined : versionOption(opts.version)
      const json = opts.json === true
      const force = opts.force === true
      // Before anything is dialled: the common case of an existing FILE costs no transfer.
      if (!force && (await exists(opts.output))) throw outputExists(opts.output)
      if (force) await checkReplaceable(opts.output)
      const summary = await withClient(node, async (client) => {
        let bar: Progress | undefined
        const opened = await client.readContent(oid, version, { onProgress: (p) => bar?.update(p.bytes) })
        if (!('content' in opened)) failWith(io, opened, json)
        bar = createProgress(io, { label: `get v${opened.version}`, total: opened.content_size })
        let temp: string | undefined
        try {
          temp = await writeTemp(opts.output, opened.content)
          await publish(temp, opts.output, force)
          temp = undefined
        } catch (err) {
          opened.cancel()
          if (temp !== undefined) await rm(temp, { force: true })
          if (err instanceof QfsError && !(err instanceof InvalidArgumentError)) {
            failWith(io, toFailure(err, opened.storage_event_id), json)
          }
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

function outputExists(path: string): InvalidArgumentError {
  return new InvalidArgumentError(`${path} already exists: pass --force to replace it`)
}

/**
 * `--force` replaces a file (or a symbolic link, not what it points to), never anything else: run as
 * root, renaming over `/dev/null` or a FIFO would replace the device or pipe with a regular file.
 */
async function checkReplaceable(path: string): Promise<void> {
  let kind: Awaited<ReturnType<typeof lstat>>
  try {
    kind = await lstat(path)
  } catch {
    return // Nothing there (or unreadable: the rename will say).
  }
  if (!kind.isFile() && !kind.isSymbolicLink())
    throw new InvalidArgumentError(`${path} is not a regular file: --force replaces only files`)
}

/** Any directory entry counts, a dangling symbolic link included. */
async function exists(path: string): Promise<boolean> {
  try {
    await lstat(path)
    return true
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false
    throw err
  }
}

/**
 * Streams `content` into a new file beside `output` and returns its path once the content has
 * verified and is on disk. The file is removed here if it was created and the stream failed; a
 * name that exists already fails the `wx` open, so nobody else's file is ever written or removed.
 */
async function writeTemp(output: string, content: AsyncIterable<Uint8Array>): Promise<string> {
  const temp = join(dirname(output), `.${basename(output)}.${randomBytes(8).toString('hex')}.partial`)
  const handle: FileHandle = await open(temp, 'wx')
  const discard = async (err: unknown): Promise<never> => {
    await handle.close().catch(() => {})
    await rm(temp, { force: true })
    throw err
  }
  try {
    await handle.writeFile(content)
    // On disk before it gets FILE's name: a crash after the rename never leaves a short FILE.
    await handle.sync()
    await handle.close()
  } catch (err) {
    return discard(err)
  }
  return temp
}

/**
 * Gives the verified file its name. Without `--force` a hard link does it, which fails if FILE
 * appeared meanwhile (rename would silently replace it); where the file system has no hard links,
 * a check just before the rename is the best left.
 */
async function publish(temp: string, output: string, force: boolean): Promise<void> {
  if (force) {
    await checkReplaceable(output)
    return rename(temp, output)
  }
  try {
    await link(temp, output)
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'EEXIST') throw outputExists(output)
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP' && code !== 'ENOSYS') throw err
    if (await exists(output)) throw outputExists(output)
    return rename(temp, output)
  }
  await unlink(temp)
}
