import { randomBytes } from 'node:crypto'
import { lstat, open, readdir, rename, rm } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'
import { toHex } from '../core/bytes.js'
import { LogHeadUnreadableError, LogIdentityMismatchError } from './errors.js'
import { openRegularFile } from './secret-file.js'

/**
 * The last checkpoint a node signed, kept outside its database (`D/log-head.json`), so a start can
 * tell a log that lost its tail from one that never had it: LevelDB recovers whatever a truncated
 * or replaced write-ahead log still holds, and an older copy of `D/db` put back opens as well, and in
 * both the log left verifies on its own (docs/audit-log.md, "What a verdict cannot show"). This
 * guards against damage and mistakes, not an attacker: whoever can cut the database can rewrite the
 * file too.
 */
export interface RecordedHead {
  checkpoint_seq: number
  /** The seq of the last entry it covers: its key in the checkpoint sublevel. */
  last_seq: number
  checkpoint_id: string
}

/** Where an EventLog keeps its recorded head (absent: the log keeps none, as in tests on memory). */
export interface LogHeadRecord {
  /**
   * The head recorded last, or undefined when none was (a node that never signed, or an older one).
   * Read once, when the log opens: its database is locked then, so no other writer of the record runs.
   */
  read(): Promise<RecordedHead | undefined>
  /** Records `head` durably; a crash leaves the old head or the new one. */
  write(head: RecordedHead): Promise<void>
  /** Where it is kept, for messages. */
  readonly where: string
}

export const LOG_HEAD_FILE = 'log-head.json'
export const LOG_HEAD_SCHEMA = 'qfs-log-head/1'
const MAX_FILE_BYTES = 4096
const ID = /^[0-9a-f]{64}$/

/**
 * The head kept as JSON in `path`, for the node `nodeId`. The node's own log passes `removeStale`, so
 * each read first removes what writes a kill cut short left; an offline check reads the directory as
 * it is.
 */
export function fileLogHeadRecord(
  path: string,
  nodeId: string,
  options: { removeStale?: boolean } = {},
): LogHeadRecord {
  return {
    where: path,
    read: async () => {
      if (options.removeStale === true) await removeStaleTemporaries(path)
      return readHeadFile(path, nodeId)
    },
    write: (head) => writeHeadFile(path, nodeId, head),
  }
}

/** A write's temporary file: `<path>.<pid>.<12 hex digits>.tmp` (writeHeadFile). */
const TEMPORARY = /^\.\d+\.[0-9a-f]{12}\.tmp$/

/**
 * Removes the temporary files of writes that never reached their rename: a process killed between
 * the two leaves one behind, and a node restarted after each crash would gather them in its directory.
 * Only for the node's own log, while it opens, when no write of the record can be under way.
 */
async function removeStaleTemporaries(path: string): Promise<void> {
  const dir = dirname(path)
  const name = basename(path)
  let entries: string[]
  try {
    entries = await readdir(dir)
  } catch {
    return // The read that follows reports what is wrong with the directory.
  }
  for (const entry of entries) {
    if (entry.startsWith(name) && TEMPORARY.test(entry.slice(name.length))) {
      await rm(join(dir, entry), { force: true })
    }
  }
}

async function readHeadFile(path: string, nodeId: string): Promise<RecordedHead | undefined> {
  let text: string
  try {
    const fh = await openRegularFile(path)
    if (fh === undefined) {
      // A symbolic link to nothing is no absent record: taking it for one would turn the check off.
      if (await isSymbolicLink(path)) throw new Error('a symbolic link to a file that does not exist')
      return undefined
    }
    try {
      // By its size first: a huge file would otherwise be read whole into memory before its refusal.
      const { size } = await fh.stat()
      if (size > MAX_FILE_BYTES) throw new Error(`it holds ${size} bytes, over ${MAX_FILE_BYTES}`)
      const bytes = await fh.readFile()
      if (bytes.length > MAX_FILE_BYTES)
        throw new Error(`it holds ${bytes.length} bytes, over ${MAX_FILE_BYTES}`)
      text = bytes.toString('utf8')
    } finally {
      await fh.close()
    }
  } catch (err) {
    const code = (err as NodeJS.ErrnoException | null)?.code
    if (typeof code === 'string' && SYSTEM_REFUSALS.has(code)) {
      throw new LogHeadUnreadableError(
        `${path} cannot be read: the system refused it (${(err as Error).message}), which is no damage to it: lift the refusal (its owner and mode, the open files limit) and start again`,
        { cause: err },
      )
    }
    throw unreadable(path, err instanceof Error ? err.message : String(err), err)
  }
  const head = parseHead(text)
  if (typeof head === 'string') throw unreadable(path, head)
  if (head.nodeId !== nodeId) {
    throw new LogIdentityMismatchError(`${path} records the log head of node ${head.nodeId}, not ${nodeId}`)
  }
  return head.head
}

/**
 * Errno codes of the system refusing a file that may be whole: the record is kept, as docs/operations.md
 * promises for any file the system refuses at start (damage is restored or removed instead).
 */
const SYSTEM_REFUSALS = new Set(['EACCES', 'EPERM', 'EMFILE', 'ENFILE'])

function unreadable(path: string, why: string, cause?: unknown): LogHeadUnreadableError {
  return new LogHeadUnreadableError(
    `${path} cannot be read (${why}): it records the last checkpoint this node signed, so a start can tell a database that lost its tail; restore it from a backup, or remove it to start without that check`,
    cause === undefined ? undefined : { cause },
  )
}

/** The file's head and node, or what is wrong with it. */
function parseHead(text: string): { nodeId: string; head: RecordedHead } | string {
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    return 'not JSON'
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return 'not a JSON object'
  const v = value as Record<string, unknown>
  const keys = Object.keys(v).sort().join(',')
  if (keys !== 'checkpoint_id,checkpoint_seq,last_seq,node_id,schema') return `unexpected fields ${keys}`
  if (v.schema !== LOG_HEAD_SCHEMA) return `schema is not ${LOG_HEAD_SCHEMA}`
  if (typeof v.node_id !== 'string' || v.node_id === '') return 'node_id is not a string'
  for (const field of ['checkpoint_seq', 'last_seq'] as const) {
    const n = v[field]
    if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0) return `${field} is not a count`
  }
  if ((v.last_seq as number) < (v.checkpoint_seq as number)) return 'last_seq is below checkpoint_seq'
  if (typeof v.checkpoint_id !== 'string' || !ID.test(v.checkpoint_id))
    return 'checkpoint_id is not 64 hex digits'
  return {
    nodeId: v.node_id,
    head: {
      checkpoint_seq: v.checkpoint_seq as number,
      last_seq: v.last_seq as number,
      checkpoint_id: v.checkpoint_id,
    },
  }
}

async function writeHeadFile(path: string, nodeId: string, head: RecordedHead): Promise<void> {
  const text = `${JSON.stringify({ schema: LOG_HEAD_SCHEMA, node_id: nodeId, ...head })}\n`
  const tmp = `${path}.${process.pid}.${toHex(randomBytes(6))}.tmp`
  try {
    // Synced before the rename: after a power loss the file is the old head or the new one, whole,
    // never an empty file a start would refuse.
    const fh = await open(tmp, 'w', 0o600)
    try {
      await fh.writeFile(text)
      await fh.sync()
    } finally {
      await fh.close()
    }
    await rename(tmp, path)
  } catch (err) {
    await rm(tmp, { force: true }).catch(() => {})
    throw err
  }
}

async function isSymbolicLink(path: string): Promise<boolean> {
  try {
    return (await lstat(path)).isSymbolicLink()
  } catch {
    return false
  }
}
