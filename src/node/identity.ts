import { readFile, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { QfsError } from '../core/errors.js'

export const NODE_FILE = 'node.json'
export const NODE_SCHEMA = 'qfs-node/1'

/** A data directory that is not a node's (no or a broken node.json). */
export class NotANodeDirError extends QfsError {
  static readonly code = 'NOT_A_NODE_DIR'
  constructor(message: string, options?: ErrorOptions) {
    super(NotANodeDirError.code, message, options)
  }
}

/** The node id a data directory belongs to (`D/node.json`); it never changes once written. */
export async function readNodeId(dir: string): Promise<string> {
  let text: string
  try {
    // Looked at before it is read: reading a FIFO waits for a writer, and one in node.json's place
    // hung start and every offline check with no word.
    const info = await stat(join(dir, NODE_FILE))
    if (!info.isFile() && !info.isDirectory()) {
      throw new NotANodeDirError(`${join(dir, NODE_FILE)} is not a regular file`)
    }
    text = await readFile(join(dir, NODE_FILE), 'utf8')
  } catch (err) {
    if (err instanceof NotANodeDirError) throw err
    const code = (err as NodeJS.ErrnoException).code
    // `init` helps only where a directory is missing or empty of a node, not in place of a file.
    const why =
      code === 'ENOENT'
        ? `${dir} has no ${NODE_FILE}: run \`qfs-node init --dir ${dir}\` first`
        : code === 'ENOTDIR'
          ? `${dir} is a file, not a node's data directory`
          : `cannot read ${join(dir, NODE_FILE)} (${code ?? (err as Error).message})`
    throw new NotANodeDirError(why, { cause: err })
  }
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch (err) {
    throw new NotANodeDirError(`${join(dir, NODE_FILE)} is not JSON`, { cause: err })
  }
  const p = parsed as { schema?: unknown; node_id?: unknown }
  if (p?.schema !== NODE_SCHEMA || typeof p.node_id !== 'string' || p.node_id.length === 0) {
    throw new NotANodeDirError(`${join(dir, NODE_FILE)} is not a ${NODE_SCHEMA} file`)
  }
  return p.node_id
}

/** Writes node.json once; an existing file must already name the same node. */
export async function ensureNodeId(dir: string, nodeId: string): Promise<void> {
  try {
    await writeFile(join(dir, NODE_FILE), `${JSON.stringify({ schema: NODE_SCHEMA, node_id: nodeId })}\n`, {
      flag: 'wx',
      mode: 0o644,
    })
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
    const existing = await readNodeId(dir)
    if (existing !== nodeId) throw new NotANodeDirError(`${dir} belongs to node ${existing}, not ${nodeId}`)
  }
}
