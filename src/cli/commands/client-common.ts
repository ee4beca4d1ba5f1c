import { isId } from '../../core/bytes.js'
import { QfsError } from '../../core/errors.js'
import type { EngineFailure } from '../../engine/responses.js'
import { type NodeAddress, parseNodeAddress } from '../../sdk/address.js'
import { QfsClient } from '../../sdk/client.js'
import { CliExit, type CliIo, EXIT, printJson } from '../io.js'

/**
 * What the client commands (put, get, proof, ls) share: argument checks that fail with exit 2 before
 * anything is dialled, and one mapping from a QFS failure answer to a message and an exit status.
 */

/** A command-line value that cannot be used: nothing was sent anywhere. */
export class InvalidArgumentError extends QfsError {
  static readonly code = 'INVALID_ARGUMENT'
  constructor(message: string, options?: ErrorOptions) {
    super(InvalidArgumentError.code, message, options)
  }
}

export const NODE_HELP = "the coordinating node's multiaddr, ending in /p2p/<peer id>"

export function nodeOption(text: string): NodeAddress {
  try {
    return parseNodeAddress(text)
  } catch (err) {
    throw new InvalidArgumentError(`--node: ${(err as Error).message}`, { cause: err })
  }
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
 * otherwise (SE_ERR_INVALID_VERSION). Content or a proof that does not verify is a failed check (1);
 * an unreachable node or any other failure means the command could not complete (3).
 */
export function failureStatus(f: EngineFailure): number {
  if (f.code === 'NODE_UNAVAILABLE') return EXIT.FAILED
  if (f.error_code === 'SE_ERR_INVALID_INPUT' || f.error_code === 'SE_ERR_INVALID_VERSION') return EXIT.USAGE
  if (f.error_code === 'SE_ERR_INTEGRITY_MISMATCH') return EXIT.CHECK_FAILED
  return EXIT.FAILED
}

/** Reports a failure answer (`error [CODE]: detail`, and the answer itself on stdout with --json) and stops. */
export function failWith(io: CliIo, f: EngineFailure, json: boolean): never {
  if (json) printJson(io, f)
  io.stderr(`error [${f.code}]: ${f.error_detail}\n`)
  throw new CliExit(failureStatus(f))
}
