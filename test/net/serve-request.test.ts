import { describe, expect, it } from 'vitest'
import type { StorageEngine } from '../../src/engine/engine.js'
import type { FrameStream } from '../../src/net/frame-stream.js'
import type { ProtocolName } from '../../src/net/protocols.js'
import { PUBLIC_HANDLERS } from '../../src/net/serve-public.js'
import { oneReadPolicy } from './one-read-policy.js'

const ID = 'ab'.repeat(32)

/**
 * Each public handler tells its exchange once its request is read and parsed (Exchange.onRequest):
 * the service gives a stream refused before that only a brief drain (service.ts), and one refused
 * after it the idle timeout to read why.
 */
const requests: [ProtocolName, object][] = [
  ['write', { object_id: ID, version: 1, content_size: 0, metadata: {} }],
  ['read', { object_id: ID }],
  ['getProof', { object_id: ID, version: 1, shard_id: ID, leaf_index: 0 }],
  ['listObjects', {}],
]

/** An engine that fails whatever it is asked: the exchange ends right after its request. */
const failing = new Proxy(
  {},
  {
    get: () => async () => {
      throw new Error('the engine is down')
    },
  },
) as StorageEngine

function exchange(request: object) {
  const told = { requests: 0 }
  const fs = {
    readJson: async () => request,
    holdInput: () => {},
    read: async () => ({ type: 'end' }),
    abort: () => {},
  } as unknown as FrameStream
  const ex = { fs, signal: new AbortController().signal, source: 'a', onRequest: () => void told.requests++ }
  return { ex, told }
}

describe('a public request, once parsed', () => {
  it.each(requests)('is told to the exchange by %s, once', async (name, request) => {
    const { ex, told } = exchange(request)
    await expect(PUBLIC_HANDLERS[name]!(failing, ex, oneReadPolicy())).rejects.toThrow('the engine is down')
    expect(told.requests).toBe(1)
  })

  it.each(requests)('is not told by %s for a malformed request', async (name) => {
    const { ex, told } = exchange({ bogus: true })
    await expect(PUBLIC_HANDLERS[name]!(failing, ex, oneReadPolicy())).rejects.toThrow()
    expect(told.requests).toBe(0)
  })
})
