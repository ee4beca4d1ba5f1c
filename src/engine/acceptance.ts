import { concatBytes, fromHex, toHex, utf8 } from '../core/bytes.js'
import { QfsError } from '../core/errors.js'
import { recordDigest, type VersionRecord } from '../core/record.js'
import { majority } from './context.js'

/**
 * A catalogue home's signature that it keeps a record (docs/protocol.md 4.7). A majority of them is
 * what a holder that is no home of the object asks before it commits: proof that the record was
 * decided, which it cannot otherwise tell from a record any eligible peer could make up.
 */
export interface Acceptance {
  node_id: string
  /** Hex; the home's signature over `acceptanceMessage(record)`. */
  signature: string
}

/** How a node signs its acceptances and checks its peers'. */
export interface AcceptanceKeys {
  sign(message: Uint8Array): Promise<Uint8Array>
  /** Whether `signature` is `nodeId`'s over `message`; false for a node whose key it cannot know. */
  verify(nodeId: string, message: Uint8Array, signature: Uint8Array): Promise<boolean>
}

/** Domain separation: an acceptance can never be replayed as a signature of anything else. */
const ACCEPTANCE_CONTEXT = utf8('qfs-record-acceptance/1\n')

/**
 * Wire bounds: a signature of up to 512 bytes (Ed25519's is 64); as many acceptances as a record can
 * have homes (the largest replication factor, params.ts).
 */
export const MAX_ACCEPTANCE_SIGNATURE_CHARS = 1024
export const MAX_ACCEPTANCES = 64

/**
 * The bytes a home signs: the context and the record's digest (PROTOCOL.md's canonical JSON).
 * `digest` is `recordDigest(record)` when the caller has it already.
 */
export function acceptanceMessage(record: VersionRecord, digest: string = recordDigest(record)): Uint8Array {
  return concatBytes([ACCEPTANCE_CONTEXT, fromHex(digest, 'record digest')])
}

/**
 * Every acceptance among the homes' commit answers. All of them, not a majority: a home whose
 * signature does not verify (a hostile one, a wrong key) must not make the holders refuse a record
 * the others vouch for; a holder checks one per home.
 */
export function forwardedAcceptances(
  answers: ReadonlyArray<{ node: string; value?: { acceptance?: string } }>,
): Acceptance[] {
  return answers.flatMap((a) =>
    a.value?.acceptance === undefined ? [] : [{ node_id: a.node, signature: a.value.acceptance }],
  )
}

export async function signAcceptance(
  keys: AcceptanceKeys,
  record: VersionRecord,
  digest?: string,
): Promise<string> {
  return toHex(await keys.sign(acceptanceMessage(record, digest)))
}

/** A commit to a holder that is no home, without a majority of the record's homes vouching for it. */
export class NotDecidedError extends QfsError {
  static readonly code = 'NOT_DECIDED'
  constructor(message: string, options?: ErrorOptions) {
    super(NotDecidedError.code, message, options)
  }
}

/**
 * The number of `record.catalogue_homes` that signed it: distinct homes, each signature valid; fails
 * with NOT_DECIDED below a majority. Acceptances from other nodes, repeated or bad ones count for
 * nothing (they are not an error by themselves: a coordinator forwards what the homes answered). One
 * signature per home is checked at most, every home's, not only a majority's: a holder that sees
 * every home vouch knows no home lacks the record, and may serve it without asking them (the rule of
 * DecidedRecords). `digest` is `recordDigest(record)`, when known.
 */
export async function checkAcceptances(
  record: VersionRecord,
  acceptances: readonly Acceptance[] | undefined,
  keys: AcceptanceKeys,
  digest?: string,
): Promise<number> {
  const homes = record.catalogue_homes
  const needed = majority(homes.length)
  const message = acceptanceMessage(record, digest)
  const vouching = new Set<string>()
  const tried = new Set<string>()
  for (const a of acceptances ?? []) {
    if (!homes.includes(a.node_id) || tried.has(a.node_id)) continue
    let signature: Uint8Array
    try {
      signature = fromHex(a.signature, 'acceptance signature')
    } catch {
      continue // not a signature at all: it costs no verification, and a later entry may hold one
    }
    tried.add(a.node_id)
    if (await keys.verify(a.node_id, message, signature).catch(() => false)) vouching.add(a.node_id)
  }
  if (vouching.size >= needed) return vouching.size
  throw new NotDecidedError(
    `${vouching.size} of the ${needed} home acceptances a holder needs to keep ${record.object_id} v${record.version}`,
  )
}
