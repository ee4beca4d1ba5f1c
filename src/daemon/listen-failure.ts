import { getSystemErrorMap } from 'node:util'

/**
 * One line saying why libp2p could not listen: `cannot listen on ADDR: address already in use
 * (EADDRINUSE)`, an entry per address that failed. libp2p (UnsupportedListenAddressesError) puts
 * every listener's error, stack included, into one multi-line message and suggests one of its own
 * settings, which an operator cannot change; only the address and the system's reason are kept.
 */
export function listenFailureMessage(err: unknown, listen: readonly string[]): string {
  const message = err instanceof Error ? err.message : String(err)
  const entries = failedAddresses(message)
  if (entries.length > 0) {
    return entries.map(({ addr, text }) => `cannot listen on ${addr}: ${reasonOf(text)}`).join('; ')
  }
  const code = errnoCodeIn(err)
  const reason = code !== undefined ? describeErrno(code) : withoutErrorName(firstLine(message))
  return `cannot listen on ${listen.join(', ')}: ${reason}`
}

/** libp2p lists each failed address as `  /ip4/…: Error: listen EADDRINUSE: …` followed by its stack. */
function failedAddresses(message: string): Array<{ addr: string; text: string }> {
  const out: Array<{ addr: string; text: string }> = []
  for (const line of message.split('\n')) {
    const m = /^ {2}(\/\S+): (.+)$/.exec(line)
    if (m !== null) out.push({ addr: m[1]!, text: m[2]! })
  }
  return out
}

function reasonOf(text: string): string {
  const code = errnoCodeOf(text)
  return code !== undefined ? describeErrno(code) : withoutErrorName(text)
}

/** The system's error name in a text (`listen EADDRINUSE: …`), when it is one this system knows. */
function errnoCodeOf(text: string): string | undefined {
  for (const word of text.match(/\bE[A-Z0-9]+\b/g) ?? []) if (ERRNO.has(word)) return word
  return undefined
}

/** The errno name on the error, its `errors` (AggregateError) or its causes, else in their messages. */
function errnoCodeIn(err: unknown, depth = 0): string | undefined {
  if (err === null || typeof err !== 'object' || depth > 4) return undefined
  const e = err as { code?: unknown; message?: unknown; errors?: unknown; cause?: unknown }
  if (typeof e.code === 'string' && ERRNO.has(e.code)) return e.code
  if (Array.isArray(e.errors)) {
    for (const inner of e.errors) {
      const code = errnoCodeIn(inner, depth + 1)
      if (code !== undefined) return code
    }
  }
  const fromCause = errnoCodeIn(e.cause, depth + 1)
  if (fromCause !== undefined) return fromCause
  return typeof e.message === 'string' ? errnoCodeOf(firstLine(e.message)) : undefined
}

/** errno name -> the system's words for it (`EADDRINUSE` -> `address already in use`). */
const ERRNO = new Map([...getSystemErrorMap().values()].map(([name, words]) => [name, words]))

function describeErrno(code: string): string {
  return `${ERRNO.get(code)} (${code})`
}

function firstLine(text: string): string {
  return text.split('\n', 1)[0]!.trim()
}

/** `UnsupportedListenAddressError: No transport …` -> `no transport …`. */
function withoutErrorName(text: string): string {
  const rest = text.replace(/^[A-Za-z]*Error: /, '')
  return rest.charAt(0).toLowerCase() + rest.slice(1)
}
