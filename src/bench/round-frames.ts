/**
 * What the processes of bench:floor's small-put floor say to each other (`round-node.ts`,
 * `rounds-floor.ts`): their protocols, message sizes and framing.
 */
export const PUT_PROTOCOL = '/qfs/bench/put-rounds/1.0.0'
export const ROUND_PROTOCOL = '/qfs/bench/round/1.0.0'
/** What a peer answers per frame and the coordinator answers per put: about an acceptance or a write's JSON answer. */
export const ACK_BYTES = 128
export const PUT_ANSWER_BYTES = 256
/** Frame sizes after the first round: about a version record with its acceptances. */
export const LATER_ROUND_BYTES = 1024

/** Frames are a u32 big-endian length and that many bytes. */
export function frame(payloadBytes: number): Uint8Array {
  const out = new Uint8Array(4 + payloadBytes)
  new DataView(out.buffer).setUint32(0, payloadBytes)
  return out
}

/**
 * Splits a byte stream into frames: `push` each chunk as it arrives; it returns the payloads
 * completed by it. A declared length over `maxBytes` throws (these streams carry only our own).
 */
export class FrameSplitter {
  private buffered = new Uint8Array(0)

  constructor(private readonly maxBytes: number) {}

  push(chunk: Uint8Array): Uint8Array[] {
    const joined = new Uint8Array(this.buffered.length + chunk.length)
    joined.set(this.buffered)
    joined.set(chunk, this.buffered.length)
    const frames: Uint8Array[] = []
    let at = 0
    while (joined.length - at >= 4) {
      const length = new DataView(joined.buffer, joined.byteOffset + at).getUint32(0)
      if (length > this.maxBytes) throw new Error(`frame of ${length} bytes over ${this.maxBytes}`)
      if (joined.length - at - 4 < length) break
      frames.push(joined.subarray(at + 4, at + 4 + length))
      at += 4 + length
    }
    this.buffered = joined.slice(at)
    return frames
  }
}
