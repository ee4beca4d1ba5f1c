import { open } from 'node:fs/promises'

/** What a daemon's `{"event":"ready"}` line says about it. */
export interface ReadyLine {
  node_id: string
  multiaddrs: string[]
  api: string
}

/** A line longer than this is no ready line; what is pending of it is dropped. */
const READY_LINE_LIMIT = 64 * 1024
const POLL_MS = 20

/**
 * Resolves with the first ready line a daemon writes to `path` from byte `offset` on, reading what
 * the file gains every POLL_MS; undefined once `signal` aborts. The daemon writes to the file itself
 * (its stdout and stderr are the file): its lines reach it whatever becomes of the process that
 * started it, a supervisor killed outright included.
 */
export async function waitForReadyLine(
  path: string,
  offset: number,
  signal: AbortSignal,
): Promise<ReadyLine | undefined> {
  const file = await open(path, 'r')
  try {
    let position = offset
    let pending = ''
    const chunk = Buffer.alloc(64 * 1024)
    while (!signal.aborted) {
      const { bytesRead } = await file.read(chunk, 0, chunk.length, position)
      if (bytesRead === 0) {
        await new Promise((resolve) => setTimeout(resolve, POLL_MS))
        continue
      }
      position += bytesRead
      pending += chunk.toString('utf8', 0, bytesRead)
      let nl = pending.indexOf('\n')
      while (nl !== -1) {
        const ready = parseReadyLine(pending.slice(0, nl))
        if (ready !== undefined) return ready
        pending = pending.slice(nl + 1)
        nl = pending.indexOf('\n')
      }
      if (pending.length > READY_LINE_LIMIT) pending = ''
    }
    return undefined
  } finally {
    await file.close()
  }
}

export function parseReadyLine(line: string): ReadyLine | undefined {
  if (!line.includes('"ready"')) return undefined
  let v: unknown
  try {
    v = JSON.parse(line)
  } catch {
    return undefined
  }
  const o = v as Record<string, unknown> | null
  if (o === null || typeof o !== 'object' || o.event !== 'ready') return undefined
  if (typeof o.node_id !== 'string' || typeof o.api !== 'string') return undefined
  if (!Array.isArray(o.multiaddrs) || !o.multiaddrs.every((a) => typeof a === 'string')) return undefined
  return { node_id: o.node_id, multiaddrs: o.multiaddrs as string[], api: o.api }
}
