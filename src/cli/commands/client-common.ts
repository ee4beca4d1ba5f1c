import { isId } from '../../core/bytes.js'
import type { EngineFailure } from '../../engine/responses.js'
import type { NodeAddress } from '../../sdk/address.js'
import type { QfsClient } from '../../sdk/client.js'
import { failureCause } from '../../sdk/failures.js'
import { InvalidArgumentError } from '../errors.js'
import { CliExit, type CliIo, EXIT, printJson } from '../io.js'

/**
 * What the client commands (put, get, proof, ls) share: argument checks that fail with exit 2 before
 * anything is dialled, and one mapping from a QFS failure answer to a message and an exit status.
 * The module is light: multiaddr parsing and the SDK client (libp2p) load only once a command gets
 * that far, so `--help` and a usage error cost no network stack.
 */

// Where `aegis` and older code import it from; it lives in ../errors.js.
export { InvalidArgumentError }

export const NODE_HELP =
  "the coordinating node's multiaddr: /ip4|/ip6|/dns|/dns4|/dns6/<host>/tcp/<port>/p2p/<peer id>"

/** Where a TCP address may point: the client's libp2p has the TCP transport only. */
const TCP_HOSTS = new Set(['ip4', 'ip6', 'dns', 'dns4', 'dns6'])

/**
 * `--node`: a multiaddr naming its peer, over a transport the client has. /udp, /quic-v1, /ws, a
 * relay circuit and the like are refused here (exit 2), since a dial could only fail.
 */
export async function nodeOption(text: string, flag = '--node'): Promise<NodeAddress> {
  const { parseNodeAddress } = await import('../../sdk/address.js')
  let node: NodeAddress
  try {
    node = parseNodeAddress(text)
  } catch (err) {
    throw new InvalidArgumentError(`${flag}: ${(err as Error).message}`, { cause: err })
  }
  const names = node.multiaddr.getComponents().map((c) => c.name)
  const tcp = names.length === 3 && TCP_HOSTS.has(names[0]!) && names[1] === 'tcp' && names[2] === 'p2p'
  if (!tcp) {
    throw new InvalidArgumentError(
      `${flag}: ${text}: only /tcp addresses are supported (/ip4, /ip6, /dns, /dns4 or /dns6, then /tcp/<port>, then /p2p/<peer id>)`,
    )
  }
  return node
}

/** A decimal integer in [min, max] with no sign, exponent or leading zeros. */
export function integerOption(
  text: string,
  flag: string,
  min: number,
  max = Number.MAX_SAFE_INTEGER,
): number {
  if (!/^(0|[1-9][0-9]{0,15})$/.test(text) || Number(text) < min || Number(text) > max) {
    throw new InvalidArgumentError(
      `${flag} must be an integer in ${min}..${max}, not ${JSON.stringify(text)}`,
    )
  }
  return Number(text)
}

/**
 * An empty output path (an unset shell variable) is no file name: the write failed only later, as
 * IO_ERROR naming an empty or temporary file.
 */
export function refuseEmptyOut(out: string, flag: string): void {
  if (out === '') throw new InvalidArgumentError(`${flag} is empty: give the path of the file to write`)
}

export function versionOption(text: string): number {
  return integerOption(text, '--version', 1)
}

export function idArgument(text: string, what: string): string {
  if (!isId(text)) throw new InvalidArgumentError(`${what} must be 64 lower-case hex characters`)
  return text
}

export function collect(value: string, previous: string[]): string[] {
  return [...previous, value]
}

/** A client with its own libp2p node for one command; closed whatever happens. */
export async function withClient<T>(node: NodeAddress, run: (client: QfsClient) => Promise<T>): Promise<T> {
  const { QfsClient } = await import('../../sdk/client.js')
  const client = await QfsClient.create({ node: node.multiaddr })
  try {
    return await run(client)
  } finally {
    await client.close()
  }
}

/**
 * Exit status of a failure answer: the node's refusal of our input is a usage error (2): a malformed
 * request (SE_ERR_INVALID_INPUT) or a version the object cannot take, a gap or one already decided
 * otherwise (SE_ERR_INVALID_VERSION). Content or a proof that does not verify is a failed check (1).
 * The node's definite answer that what was asked for is not there (SE_ERR_NOT_FOUND: no such version
 * or shard, a deleted object) or has no block to prove (EMPTY_SHARD) is 4, so a script can tell
 * "absent" from "could not ask". An unreachable node or any other failure means the command could
 * not complete (3).
 */
export function failureStatus(f: EngineFailure): number {
  if (f.code === 'NODE_UNAVAILABLE') return EXIT.FAILED
  if (f.error_code === 'SE_ERR_INVALID_INPUT' || f.error_code === 'SE_ERR_INVALID_VERSION') return EXIT.USAGE
  if (f.error_code === 'SE_ERR_INTEGRITY_MISMATCH') return EXIT.CHECK_FAILED
  if (f.error_code === 'SE_ERR_NOT_FOUND' || f.code === 'EMPTY_SHARD') return EXIT.NOT_FOUND
  return EXIT.FAILED
}

/**
 * Reports a failure answer (`error [CODE]: detail`, and the answer itself on stdout with --json) and
 * stops. An unreachable node's answer says only that; the line adds the local cause in parentheses.
 */
export function failWith(io: CliIo, f: EngineFailure, json: boolean): never {
  if (json) printJson(io, f)
  const why = f.code === 'NODE_UNAVAILABLE' ? unavailableReason(failureCause(f)) : undefined
  io.stderr(`${printable(`error [${f.code}]: ${f.error_detail}${why === undefined ? '' : ` (${why})`}`)}\n`)
  throw new CliExit(failureStatus(f))
}

/**
 * Text a node chose (an error's code and detail, metadata) as it may reach a terminal: control
 * characters (C0, DEL, C1) become JSON-style escapes (ESC is `\u001b`). Raw, an ESC would start an
 * escape sequence that rewrites the screen or the window title, and a newline would print a line of
 * the node's making.
 */
export function printable(text: string): string {
  return text.replace(/\p{Cc}/gu, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)
}

const ERRNO_REASONS: Readonly<Record<string, string>> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset',
  ETIMEDOUT: 'connection timed out',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  EAI_AGAIN: 'host name lookup failed',
}

const NO_ANSWER = 'no answer in time'

const NOT_LIBP2P =
  'no libp2p node answered at that address (the Noise handshake failed; is that the operator API port?)'

const PEER_MISMATCH = /identity key (\S+) does not match expected remote identity key (\S+)/

/**
 * Why a node could not be reached, in words for the operator on this machine: the answer's
 * error_detail stays the same for every cause (it is also what a node would send), while the
 * local error chain (libp2p's and the OS's errors) tells a wrong peer id from a closed port.
 */
export function unavailableReason(cause: unknown): string | undefined {
  const chain = errorChain(cause)
  if (chain.length === 0) return undefined
  for (const e of chain) {
    // Noise checks the key the node proves against the /p2p/ id dialled: another node answers there.
    const m = PEER_MISMATCH.exec(e.message)
    if (m !== null) return `peer id mismatch: the node at that address is ${m[1]}, not ${m[2]}`
    if (e.name === 'UnexpectedPeerError') return 'peer id mismatch: another node answers at that address'
  }
  for (const e of chain) {
    if (e.name === 'NoValidAddressesError') return 'only /tcp addresses are supported'
    if (e.code === 'ENOTFOUND')
      return `host name not found${e.hostname === undefined ? '' : `: ${e.hostname}`}`
    const known = e.code === undefined ? undefined : ERRNO_REASONS[e.code]
    if (known !== undefined) return known
    if (e.name === 'UnsupportedProtocolError') return 'the peer does not speak the QFS protocol'
    // The connection opened, then its security negotiation failed: whatever listens there (an HTTP
    // server, most often the node's own operator API one port away) is not a libp2p node.
    if (e.name === 'TimeoutError') return NO_ANSWER
    // A stopped (or frozen) node's kernel still accepts the connection; libp2p then gives up the
    // handshake nobody answers with an EncryptionFailedError that says only that it timed out.
    if (e.name === 'EncryptionFailedError') return /time(?:d)? ?out/i.test(e.message) ? NO_ANSWER : NOT_LIBP2P
  }
  // Otherwise the innermost error as it is: on this machine its words help more than they leak.
  const root = chain[chain.length - 1]!
  const text = root.code !== undefined && /^[A-Z][A-Z0-9_]*$/.test(root.code) ? root.code : root.name
  return root.message === '' ? text : `${text}: ${root.message.slice(0, 200)}`
}

interface ChainedError {
  name: string
  message: string
  code: string | undefined
  hostname: string | undefined
}

/** `err`, its `cause`s and an AggregateError's `errors`, outermost first (bounded: chains may loop). */
function errorChain(err: unknown): ChainedError[] {
  const seen = new Set<unknown>()
  const out: ChainedError[] = []
  const queue: unknown[] = [err]
  while (queue.length > 0 && out.length < 32) {
    const e = queue.shift()
    if (e === null || typeof e !== 'object' || seen.has(e)) continue
    seen.add(e)
    const o = e as { name?: unknown; message?: unknown; code?: unknown; hostname?: unknown }
    out.push({
      name: typeof o.name === 'string' ? o.name : 'Error',
      message: typeof o.message === 'string' ? o.message : '',
      code: typeof o.code === 'string' ? o.code : undefined,
      hostname: typeof o.hostname === 'string' ? o.hostname : undefined,
    })
    const { cause, errors } = e as { cause?: unknown; errors?: unknown }
    if (cause !== undefined) queue.push(cause)
    if (Array.isArray(errors)) queue.push(...errors)
  }
  return out
}
