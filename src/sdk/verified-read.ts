import { IntegrityMismatchError } from '../engine/errors.js'
import type { ShardReadInfo } from '../engine/responses.js'
import type { OpenedRead as WireRead } from '../net/client.js'
import { RemoteError } from '../net/errors.js'
import { ContentVerifier } from '../net/verify.js'
import { checkReadTrailer } from './checks.js'

export interface TransferProgress {
  bytes: number
  total: number
}

/**
 * The wire read's bytes, checked against its record; the trailer is checked and copied into
 * `proofs`. Returns true once all of it verified, false when `cancelled()` ended it quietly first.
 */
export async function* verifiedContent(
  wire: WireRead,
  proofs: ShardReadInfo[],
  onProgress: ((p: TransferProgress) => void) | undefined,
  cancelled: () => boolean = () => false,
): AsyncGenerator<Uint8Array, boolean> {
  const verifier = new ContentVerifier(wire.record)
  const total = wire.record.content_size
  for await (const piece of wire.content) {
    if (cancelled()) return false
    verifier.update(piece)
    onProgress?.({ bytes: verifier.bytes, total })
    yield piece
  }
  if (cancelled()) return false
  verifier.finish()
  const end = await wire.trailer
  if (!end.ok) throw new RemoteError(end.code, end.error_code, end.error_detail)
  const wrong = checkReadTrailer(end.proofs, wire.record)
  if (wrong !== undefined) throw new IntegrityMismatchError(wrong)
  proofs.push(...end.proofs)
  return true
}
