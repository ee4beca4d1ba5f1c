/**
 * JSON schemas of the operator API: fastify validates requests against them and serializes answers
 * through them (a field missing from a schema is not sent), and OpenAPI can be generated from them.
 */
import { MAX_FILTER_TEXT_UNITS } from '../engine/list.js'

const id64 = { type: 'string', pattern: '^[0-9a-f]{64}$' } as const
const count = { type: 'integer', minimum: 0, maximum: Number.MAX_SAFE_INTEGER } as const

export const errorSchema = {
  type: 'object',
  required: ['ok', 'code', 'message'],
  properties: {
    ok: { type: 'boolean', const: false },
    code: { type: 'string' },
    message: { type: 'string' },
    /** The StorageEngine interface code, when an engine call failed. */
    error_code: { type: 'string' },
    storage_event_id: { type: ['string', 'null'] },
  },
} as const

export const healthSchema = {
  type: 'object',
  required: ['status'],
  properties: { status: { type: 'string', const: 'ok' } },
} as const

export const readinessSchema = {
  type: 'object',
  required: ['ready', 'checks'],
  properties: {
    ready: { type: 'boolean' },
    checks: {
      type: 'object',
      required: ['store', 'libp2p', 'snapshot', 'eligible'],
      properties: {
        store: { type: 'boolean' },
        libp2p: { type: 'boolean' },
        snapshot: { type: 'boolean' },
        eligible: { type: 'boolean' },
      },
    },
  },
} as const

export const statusSchema = {
  type: 'object',
  required: [
    'node_id',
    'version',
    'ready',
    'epoch',
    'snapshot_hash',
    'multiaddrs',
    'peers',
    'store',
    'log',
    'space',
    'suspect_peers',
    'uptime_seconds',
  ],
  properties: {
    node_id: { type: 'string' },
    version: { type: 'string' },
    ready: { type: 'boolean' },
    epoch: { type: ['integer', 'null'] },
    snapshot_hash: { type: ['string', 'null'] },
    multiaddrs: { type: 'array', items: { type: 'string' } },
    peers: count,
    store: {
      type: 'object',
      required: ['objects', 'versions', 'shards', 'bytes_stored', 'staged'],
      properties: { objects: count, versions: count, shards: count, bytes_stored: count, staged: count },
    },
    log: {
      type: 'object',
      required: ['entries', 'last_event_id', 'covered_entries', 'checkpoints', 'last_checkpoint_id'],
      properties: {
        entries: count,
        last_event_id: id64,
        covered_entries: count,
        checkpoints: count,
        last_checkpoint_id: id64,
      },
    },
    space: {
      type: ['object', 'null'],
      required: ['free_bytes', 'reserve_bytes', 'capacity_bytes', 'accepting_writes'],
      properties: {
        free_bytes: count,
        reserve_bytes: count,
        capacity_bytes: { type: ['integer', 'null'], minimum: 0 },
        accepting_writes: { type: 'boolean' },
      },
    },
    suspect_peers: { type: 'array', items: { type: 'string' } },
    uptime_seconds: { type: 'number', minimum: 0 },
  },
} as const

export const listQuerySchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    limit: { type: 'integer', minimum: 1, maximum: 1000 },
    after_object_id: id64,
    after_version: count,
    prefix: { type: 'string', pattern: '^[0-9a-f]{0,64}$' },
    // ajv counts code points; app.ts checks the engine's bound in UTF-16 code units first, which is
    // never looser (a code point is one or two units).
    tag: { type: 'string', minLength: 1, maxLength: MAX_FILTER_TEXT_UNITS },
    author: { type: 'string', minLength: 1, maxLength: MAX_FILTER_TEXT_UNITS },
    tick_from: count,
    tick_to: count,
  },
  // A cursor is both halves or neither.
  dependencies: { after_object_id: ['after_version'], after_version: ['after_object_id'] },
} as const

export const listResponseSchema = {
  type: 'object',
  required: ['ok', 'objects', 'next_cursor', 'storage_event_id'],
  properties: {
    ok: { type: 'boolean', const: true },
    objects: {
      type: 'array',
      items: {
        type: 'object',
        required: [
          'object_id',
          'version',
          'kind',
          'hash_commit',
          'content_size',
          'created_at_tick',
          'metadata',
        ],
        properties: {
          object_id: id64,
          version: count,
          kind: { type: 'string', enum: ['STORE', 'UPDATE', 'DELETE_MARKER'] },
          hash_commit: id64,
          content_size: count,
          created_at_tick: count,
          metadata: { type: 'object', additionalProperties: true },
        },
      },
    },
    next_cursor: {
      anyOf: [
        { type: 'null' },
        {
          type: 'object',
          required: ['object_id', 'version'],
          properties: { object_id: id64, version: count },
        },
      ],
    },
    storage_event_id: id64,
  },
} as const
