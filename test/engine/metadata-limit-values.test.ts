import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { toHex, u32 } from '../../src/core/bytes.js'
import { sha3 } from '../../src/core/hash.js'
import { normalizeMetadata } from '../../src/core/metadata.js'
import { checkMetadataLimits } from '../../src/engine/metadata-limits.js'

/**
 * The node limits on metadata are the numbers docs/protocol.md 4.1 publishes ("more than **256**
 * distinct atr_fee_events", a telemetry node_id "longer than **128** UTF-8 bytes"), read from the
 * document and checked on both sides of each bound, not taken from the constants under test.
 */
const doc = readFileSync(new URL('../../docs/protocol.md', import.meta.url), 'utf8').replace(/\s+/g, ' ')
const published = (pattern: RegExp): number => Number(pattern.exec(doc)?.[1])
const FEE_EVENTS = published(/more than \*\*(\d+)\*\* distinct `atr_fee_events`/)
const NODE_ID_BYTES = published(/`node_id` is longer than \*\*(\d+)\*\* UTF-8 bytes/)

const feeIds = (n: number) => Array.from({ length: n }, (_, i) => toHex(sha3(u32(7), u32(i))))
const metadata = (extra: Record<string, unknown>) =>
  normalizeMetadata({ author_node_id: 'author-1', created_at_tick: 1, ...extra })
const stub = (nodeId: string) => ({ node_id: nodeId, proof_result: 'PASS', latency_band: 1, at_epoch: 1 })

describe('the node limits on metadata, as docs/protocol.md publishes them', () => {
  it('reads 256 and 128 from the document', () => {
    expect([FEE_EVENTS, NODE_ID_BYTES]).toEqual([256, 128])
  })

  it('takes the published number of distinct fee events and refuses one more', () => {
    expect(() => checkMetadataLimits(metadata({ atr_fee_events: feeIds(FEE_EVENTS) }))).not.toThrow()
    expect(() => checkMetadataLimits(metadata({ atr_fee_events: feeIds(FEE_EVENTS + 1) }))).toThrow(
      expect.objectContaining({ code: 'INVALID_METADATA' }),
    )
  })

  it('takes a telemetry node_id of the published bytes and refuses one byte more', () => {
    // Two-byte characters: 64 of them are 128 bytes; one more ASCII byte is over.
    const atBound = '\u00e9'.repeat(NODE_ID_BYTES / 2)
    expect(() => checkMetadataLimits(metadata({ aegis_telemetry_stub: stub(atBound) }))).not.toThrow()
    expect(() => checkMetadataLimits(metadata({ aegis_telemetry_stub: stub(`${atBound}n`) }))).toThrow(
      expect.objectContaining({ code: 'INVALID_METADATA' }),
    )
  })
})
