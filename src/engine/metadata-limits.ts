import { utf8 } from '../core/bytes.js'
import { InvalidMetadataError } from '../core/errors.js'
import type { StorageMetadata } from '../core/metadata.js'

/**
 * NODE POLICY, not PROTOCOL.md: bounds this node puts on metadata the frozen schema leaves
 * unbounded, so that every write it accepts can be logged. A write's STORE and REPLICA_COMMIT
 * events embed the whole metadata, and an event is at most MAX_EVENT_BYTES (65 536, log/event.ts);
 * with these bounds the largest metadata is about 31 KB of canonical JSON and the largest event
 * about 45 KB, even with every string and node id made of characters JSON escapes to six bytes
 * (test/engine/metadata-limits.test.ts; docs/protocol.md 4.1 "Node limits"). The core (src/core/metadata.ts) stays exactly PROTOCOL.md: these checks run at
 * the request boundary, on the normalized metadata, before any byte is staged.
 */
export const MAX_FEE_EVENTS = 256
/** As for node ids in events and snapshots (log/event.ts). */
export const MAX_TELEMETRY_NODE_ID_BYTES = 128

/** Throws INVALID_METADATA (SE_ERR_INVALID_INPUT) for metadata above this node's limits. */
export function checkMetadataLimits(meta: StorageMetadata): void {
  if (meta.atr_fee_events.length > MAX_FEE_EVENTS) {
    throw new InvalidMetadataError(
      `atr_fee_events has ${meta.atr_fee_events.length} distinct ids; this node accepts at most ${MAX_FEE_EVENTS} (node limit)`,
    )
  }
  const telemetry = meta.aegis_telemetry_stub
  if (telemetry !== null && utf8(telemetry.node_id).length > MAX_TELEMETRY_NODE_ID_BYTES) {
    throw new InvalidMetadataError(
      `aegis_telemetry_stub.node_id is longer than ${MAX_TELEMETRY_NODE_ID_BYTES} UTF-8 bytes (node limit)`,
    )
  }
}
