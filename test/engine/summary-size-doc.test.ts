/**
 * docs/protocol.md 4.5: "Within a reference node's metadata limits a summary stays under 32 KiB, so a
 * full page of 1000 stays under 32 MiB" (what a client holding a page must plan for, against its
 * 64 MiB bound). Checked at the costliest metadata the schema and this node's limits allow: every
 * string at its byte bound and made of U+0001, which canonical JSON writes as six bytes.
 */
import { describe, expect, it } from 'vitest'
import { toHex, u32, utf8 } from '../../src/core/bytes.js'
import { canonicalJson } from '../../src/core/canonical.js'
import { sha3 } from '../../src/core/hash.js'
import { MAX_AUTHOR_BYTES, MAX_TAG_BYTES, MAX_TAGS, normalizeMetadata } from '../../src/core/metadata.js'
import {
  checkMetadataLimits,
  MAX_FEE_EVENTS,
  MAX_TELEMETRY_NODE_ID_BYTES,
} from '../../src/engine/metadata-limits.js'
import { MAX_LIST_PAGE_BYTES } from '../../src/net/client.js'

const CTRL = '\u0001'

describe('the size of a list summary (docs/protocol.md 4.5)', () => {
  it('stays under 32 KiB at the costliest metadata a node accepts, so 1000 stay under 32 MiB', () => {
    const metadata = normalizeMetadata({
      author_node_id: CTRL.repeat(MAX_AUTHOR_BYTES),
      created_at_tick: Number.MAX_SAFE_INTEGER,
      tags: Array.from(
        { length: MAX_TAGS },
        (_, i) => `${CTRL.repeat(MAX_TAG_BYTES - 2)}${String(i).padStart(2, '0')}`,
      ),
      openagi_score: 1_000_000,
      atr_fee_events: Array.from({ length: MAX_FEE_EVENTS }, (_, i) => toHex(sha3(u32(i)))),
      aegis_telemetry_stub: {
        node_id: CTRL.repeat(MAX_TELEMETRY_NODE_ID_BYTES),
        proof_result: 'NONE',
        latency_band: Number.MAX_SAFE_INTEGER,
        at_epoch: Number.MAX_SAFE_INTEGER,
      },
    })
    checkMetadataLimits(metadata)
    const summary = {
      object_id: 'f'.repeat(64),
      version: Number.MAX_SAFE_INTEGER,
      kind: 'DELETE_MARKER',
      hash_commit: 'f'.repeat(64),
      content_size: Number.MAX_SAFE_INTEGER,
      created_at_tick: Number.MAX_SAFE_INTEGER,
      metadata,
    }
    const bytes = utf8(canonicalJson(summary)).length
    expect(bytes).toBeGreaterThan(30_000) // the bound is near: the metadata is most of it
    expect(bytes).toBeLessThan(32 * 1024)
    expect(1000 * (bytes + 4)).toBeLessThan(32 * 1024 * 1024) // with each frame's prefix and type byte
    expect(MAX_LIST_PAGE_BYTES).toBe(64 * 1024 * 1024)
  })
})
