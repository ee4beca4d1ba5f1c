import type { Stream } from '@libp2p/interface'
import { FrameStream } from '../../src/net/frame-stream.js'
import { encodeVarint, FRAME_JSON, type JsonObject, MAX_FRAME_BYTES } from '../../src/net/frames.js'
import { PROTOCOLS } from '../../src/net/protocols.js'
import { type ReadScript, type StubNode, stubNode } from './stub.js'

/**
 * What a hostile node does on one public stream once the client's request is in: frames through
 * `fs`, raw bytes (a lying length prefix, half a frame) through `stream`, or nothing at all.
 */
export type HostileAnswer = (fs: FrameStream, stream: Stream, request: JsonObject) => Promise<void>

export interface HostileNode extends StubNode {
  /** Serves `protocol` with `answer` from now on (read, get_proof or list_objects). */
  answer(protocol: string, answer: HostileAnswer): Promise<void>
}

/** The stub node of stub.ts, whose public handlers a test replaces with byte-level scripts. */
export async function hostileNode(index: number): Promise<HostileNode> {
  const stub = await stubNode(index)
  const answers = new Map<string, HostileAnswer>()
  const dispatch = (protocol: string) => async (stream: Stream) => {
    const fs = new FrameStream(stream, { maxFrameBytes: MAX_FRAME_BYTES, idleMs: 10_000 })
    try {
      const request = await fs.readJson()
      await answers.get(protocol)!(fs, stream, request)
      await fs.finish(undefined, 1_000)
    } catch (err) {
      // The client gave up on us (what most of these tests cause).
      fs.abort(err as Error)
    }
  }
  for (const protocol of [PROTOCOLS.read, PROTOCOLS.getProof, PROTOCOLS.listObjects]) {
    await stub.node.unhandle(protocol)
    await stub.node.handle(protocol, dispatch(protocol))
  }
  return {
    ...stub,
    answer: async (protocol, answer) => {
      answers.set(protocol, answer)
    },
  }
}

/** Writes a read script as an honest node would frame it. */
export async function sendRead(fs: FrameStream, script: ReadScript): Promise<void> {
  await fs.writeJson(script.header)
  for (const piece of script.data) await fs.writeData(piece)
  if (script.trailer !== null) await fs.writeJson(script.trailer)
}

/** Sends `bytes` one byte at a time, `gapMs` apart, until the stream fails or `bytes` run out. */
export async function trickle(stream: Stream, bytes: Uint8Array, gapMs: number): Promise<void> {
  for (const byte of bytes) {
    if (stream.status !== 'open' || stream.writeStatus !== 'writable') return
    stream.send(Uint8Array.of(byte))
    await new Promise((resolve) => setTimeout(resolve, gapMs))
  }
}

/** The bytes of a JSON frame whose length prefix is honest (for trickling it). */
export function jsonFrameBytes(value: JsonObject): Uint8Array {
  const body = new TextEncoder().encode(JSON.stringify(value))
  const prefix = encodeVarint(body.length + 1)
  const out = new Uint8Array(prefix.length + 1 + body.length)
  out.set(prefix, 0)
  out[prefix.length] = FRAME_JSON
  out.set(body, prefix.length + 1)
  return out
}
