import { randomBytes } from 'node:crypto'
import { type FileHandle, link, lstat, open, rename, rm, unlink } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'
import { getSystemErrorMessage } from 'node:util'
import type { Command } from 'commander'
import { QfsError } from '../../core/errors.js'
import type { EngineFailure } from '../../engine/responses.js'
import { toFailure } from '../../sdk/failures.js'
import { interruptedExit, watchInterrupts } from '../interrupt.js'
import { CliExit, type CliIo, printJson } from '../io.js'
import { createProgress, type Progress } from '../progress.js'
import {
  collect,
  failWith,
  InvalidArgumentError,
  idArgument,
  NODE_HELP,
  nodeOption,
  refuseEmptyOut,
  versionOption,
  withClient,
} from './client-common.js'
import {
  CONFIRM_WITH_HELP,
  type ConfirmationSummary,
  confirmRead,
  confirmWithOption,
  notConfirmed,
} from './confirm-with.js'

interface GetOptions {
  node: string
  version?: string
  output: string
  force?: boolean
  json?: boolean
  confirmWith: string[]
}

/**
 * Verified bytes only ever reach FILE whole, and `get` never overwrites or deletes a file it did not
 * create: the content streams into a temporary file of a fresh random name in FILE's directory,
 * opened with `wx` (so it is ours) before anything is dialled (a FILE that cannot be written costs no
 * transfer), which becomes FILE only once the last shard root and hash_commit have checked out, and
 * is removed on any failure and on SIGINT, SIGTERM or SIGHUP (the command then exits 130, 143 or
 * 129). An existing FILE is refused unless `--force`. `-o -` is refused: standard output cannot be
 * withheld until the content has verified.
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
      'the file to write the content to (via a temporary file beside it, renamed once verified; not stdout)',
    )
    .option('--version <n>', 'the version to read (default: the latest)')
    .option('--force', 'replace FILE if it already exists')
    .option('--json', 'print a JSON summary of the read')
    .option('--confirm-with <multiaddr>', CONFIRM_WITH_HELP, collect, [])
    .addHelpText(
      'after',
      '\nCtrl-C (SIGINT), SIGTERM or SIGHUP stops the read, removes the temporary file and exits 130, 143 or 129.\n',
    )
    .action(async (oidText: string, opts: GetOptions) => {
      const oid = idArgument(oidText, 'OBJECT_ID')
      const node = await nodeOption(opts.node)
      const version = opts.version === undefined ? undefined : versionOption(opts.version)
      const confirmWith = await confirmWithOption(opts.confirmWith, node)
      if (opts.output === '-') {
        throw new InvalidArgumentError(
          '-o -: get writes only a file, never standard output (no byte leaves before the whole content verified); for a file named "-", give ./-',
        )
      }
      refuseEmptyOut(opts.output, '-o')
      const output = opts.output
      const json = opts.json === true
      const force = opts.force === true
      // Before anything is dialled: the common case of an existing FILE costs no transfer.
      // What is no file is refused first, with or without --force: only a file can be replaced.
      await checkReplaceable(output)
      if (!force && (await exists(output))) throw outputExists(output)
      const interrupts = watchInterrupts()
      let temp: TempFile | undefined
      try {
        temp = await createTemp(output)
        const file = temp
        let confirmation: ConfirmationSummary | undefined
        const summary = await withClient(node, async (client) => {
          let bar: Progress | undefined
          const opened = await client.readContent(oid, version, {
            signal: interrupts.abort,
            onProgress: (p) => bar?.update(p.bytes),
          })
          if (interrupts.received !== undefined) {
            if ('content' in opened) opened.cancel()
            throw interrupted(io, interrupts.received, output)
          }
          if (!('content' in opened)) failWith(io, opened, json)
          if (opened.kind === 'DELETE_MARKER') {
            // A deletion has no content: an empty FILE would read as an empty version.
            opened.cancel()
            failWith(io, deleteMarker(opened.object_id, opened.version, opened.storage_event_id), json)
          }
          bar = createProgress(io, { label: `get v${opened.version}`, total: opened.content_size })
          const cancel = () => opened.cancel()
          interrupts.abort.addEventListener('abort', cancel)
          try {
            await writeContent(file, output, opened.content)
            if (interrupts.received !== undefined) throw interrupted(io, interrupts.received, output, bar)
            if (confirmWith.length > 0) {
              // The bytes verified against the record the node sent; the nodes asked say whether that
              // record is the one the network decided. FILE appears only if they do.
              const target = {
                object_id: opened.object_id,
                version: opened.version,
                hash_commit: opened.hash_commit,
              }
              confirmation = await confirmRead(confirmWith, target, interrupts.abort)
              if (interrupts.received !== undefined) throw interrupted(io, interrupts.received, output, bar)
              if (!confirmation.confirmed) {
                bar.finish()
                failWith(io, notConfirmed(target, confirmation, opened.storage_event_id), json)
              }
            }
            await publish(file.path, output, force)
            file.published = true
          } catch (err) {
            opened.cancel()
            if (interrupts.received !== undefined && !(err instanceof CliExit)) {
              throw interrupted(io, interrupts.received, output, bar)
            }
            if (
              err instanceof QfsError &&
              !(err instanceof InvalidArgumentError || err instanceof OutputWriteError)
            ) {
              failWith(io, toFailure(err, opened.storage_event_id), json)
            }
            throw err
          } finally {
            interrupts.abort.removeEventListener('abort', cancel)
            bar.finish()
          }
          return {
            object_id: opened.object_id,
            version: opened.version,
            kind: opened.kind,
            hash_commit: opened.hash_commit,
            content_size: opened.content_size,
            metadata: opened.metadata,
            file: output,
            proofs: opened.proofs,
            storage_event_id: opened.storage_event_id,
            ...(confirmation === undefined ? {} : { confirmation }),
          }
        })
        if (json) printJson(io, summary)
        else {
          io.stdout(
            `wrote ${summary.content_size} bytes of ${summary.object_id} v${summary.version} to ${summary.file}\n` +
              `hash_commit ${summary.hash_commit} verified\n` +
              (confirmation === undefined
                ? ''
                : `confirmed by ${confirmation.agreeing} of the ${confirmation.asked.length} nodes asked\n`),
          )
        }
      } catch (err) {
        // A signal that cut a failing step short (a refused dial, a cancelled stream) is the reason.
        if (interrupts.received !== undefined && !(err instanceof CliExit)) {
          throw interrupted(io, interrupts.received, output)
        }
        throw err
      } finally {
        if (temp !== undefined && !temp.published) {
          await temp.handle.close().catch(() => {})
          await rm(temp.path, { force: true })
        }
        interrupts.dispose()
      }
    })
}

/** Says that the read was interrupted, on a line of its own: a progress bar is ended first, never redrawn after it. */
function interrupted(io: CliIo, signal: NodeJS.Signals, output: string, bar?: Progress): CliExit {
  bar?.finish()
  io.stderr(`interrupted (${signal}): nothing written to ${output}\n`)
  return interruptedExit(signal)
}

/**
 * A delete marker read by its number: it records a deletion and has no content, so `get` refuses it
 * as the node refuses the latest version when that one is a deletion (NOT_FOUND), and writes nothing.
 */
function deleteMarker(objectId: string, version: number, storageEventId: string): EngineFailure {
  return {
    ok: false,
    error_code: 'SE_ERR_NOT_FOUND',
    error_detail: `version ${version} of ${objectId} is a delete marker (the object was deleted at that version): it has no content`,
    code: 'NOT_FOUND',
    storage_event_id: storageEventId,
  }
}

/** The operating system refused to write FILE (or the temporary file beside it): named as the user gave it. */
export class OutputWriteError extends QfsError {
  static readonly code = 'IO_ERROR'
  constructor(output: string, cause: NodeJS.ErrnoException) {
    const reason =
      typeof cause.errno === 'number' && typeof cause.code === 'string'
        ? `${cause.code} (${getSystemErrorMessage(cause.errno)})`
        : cause.message
    super(OutputWriteError.code, `cannot write ${output}: ${reason}`, { cause })
  }
}

/** Errors of the file system (they carry a syscall) name FILE; anything else passes unchanged. */
function asOutputError(output: string, err: unknown): unknown {
  const e = err as NodeJS.ErrnoException
  if (e !== null && typeof e === 'object' && typeof e.syscall === 'string' && typeof e.code === 'string')
    return new OutputWriteError(output, e)
  return err
}

function outputExists(path: string): InvalidArgumentError {
  return new InvalidArgumentError(`${path} already exists: pass --force to replace it`)
}

/**
 * FILE may be a file (or a symbolic link, not what it points to) that `--force` replaces, never
 * anything else: run as root, renaming over `/dev/null` or a FIFO would replace the device or pipe
 * with a regular file, and no flag replaces a directory.
 */
async function checkReplaceable(path: string): Promise<void> {
  let kind: Awaited<ReturnType<typeof lstat>>
  try {
    kind = await lstat(path)
  } catch {
    return // Nothing there (or unreadable: the rename will say).
  }
  if (!kind.isFile() && !kind.isSymbolicLink())
    throw new InvalidArgumentError(
      `${path} is ${kind.isDirectory() ? 'a directory' : 'not a regular file'}: -o takes the path of a file to create (or, with --force, to replace)`,
    )
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

/** The temporary file beside FILE, created by us (`wx`) and not yet given FILE's name. */
interface TempFile {
  path: string
  handle: FileHandle
  published: boolean
}

/** A name that exists already fails the `wx` open, so nobody else's file is ever written or removed. */
async function createTemp(output: string): Promise<TempFile> {
  const path = join(dirname(output), `.${basename(output)}.${randomBytes(8).toString('hex')}.partial`)
  try {
    return { path, handle: await open(path, 'wx'), published: false }
  } catch (err) {
    throw asOutputError(output, err)
  }
}

/**
 * Streams `content` into the temporary file and closes it once the content has verified and is on
 * disk. A failure of the content (a check, the network) passes unchanged; one of the file system
 * names FILE. The caller removes the file on failure.
 */
async function writeContent(
  temp: TempFile,
  output: string,
  content: AsyncIterable<Uint8Array>,
): Promise<void> {
  let contentFailed = false
  const source = (async function* () {
    try {
      yield* content
    } catch (err) {
      contentFailed = true
      throw err
    }
  })()
  try {
    await temp.handle.writeFile(source)
    // On disk before it gets FILE's name: a crash after the rename never leaves a short FILE.
    await temp.handle.sync()
    await temp.handle.close()
  } catch (err) {
    throw contentFailed ? err : asOutputError(output, err)
  }
}

/**
 * Gives the verified file its name. Without `--force` a hard link does it, which fails if FILE
 * appeared meanwhile (rename would silently replace it); where the file system has no hard links,
 * a check just before the rename is the best left.
 */
async function publish(temp: string, output: string, force: boolean): Promise<void> {
  try {
    await giveName(temp, output, force)
  } catch (err) {
    throw asOutputError(output, err)
  }
}

async function giveName(temp: string, output: string, force: boolean): Promise<void> {
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
