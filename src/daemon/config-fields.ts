/**
 * Every setting of a daemon: its path in the config file (snake_case, dotted for nesting), its
 * environment variable and its `qfs-node start` flag, and the kind of value it takes. The values are
 * parsed and checked in config.ts.
 */
type Kind =
  | 'multiaddrs'
  | 'listen'
  | 'host'
  | 'port'
  | 'token'
  | 'path'
  | 'keys'
  | 'level'
  | 'bool'
  | 'bytes'
  | 'ms'
  | 'count'

/** Every setting: its path in the file (snake_case, dotted for nesting), its variable and its flag. */
export const FIELDS = {
  listen: { kind: 'listen', env: 'QFS_LISTEN', flag: '--listen' },
  announce: { kind: 'multiaddrs', env: 'QFS_ANNOUNCE', flag: '--announce' },
  'api.host': { kind: 'host', env: 'QFS_API_HOST', flag: '--api-host' },
  'api.port': { kind: 'port', env: 'QFS_API_PORT', flag: '--api-port' },
  'api.token': { kind: 'token', env: 'QFS_API_TOKEN', flag: '--api-token' },
  snapshot: { kind: 'path', env: 'QFS_SNAPSHOT', flag: '--snapshot' },
  trusted_authorities: { kind: 'keys', env: 'QFS_TRUSTED_AUTHORITIES', flag: '--trust' },
  log_level: { kind: 'level', env: 'QFS_LOG_LEVEL', flag: '--log-level' },
  allow_no_snapshot: { kind: 'bool', env: 'QFS_ALLOW_NO_SNAPSHOT', flag: '--allow-no-snapshot' },
  'limits.max_content_bytes': { kind: 'bytes', env: 'QFS_MAX_CONTENT_BYTES', flag: '--max-content-bytes' },
  'limits.request_timeout_ms': { kind: 'ms', env: 'QFS_REQUEST_TIMEOUT_MS', flag: '--request-timeout-ms' },
  'limits.idle_timeout_ms': { kind: 'ms', env: 'QFS_IDLE_TIMEOUT_MS', flag: '--idle-timeout-ms' },
  'limits.suspect_grace_ms': { kind: 'ms', env: 'QFS_SUSPECT_GRACE_MS', flag: '--suspect-grace-ms' },
  'limits.probe_interval_ms': { kind: 'ms', env: 'QFS_PROBE_INTERVAL_MS', flag: '--probe-interval-ms' },
  'limits.shutdown_timeout_ms': { kind: 'ms', env: 'QFS_SHUTDOWN_TIMEOUT_MS', flag: '--shutdown-timeout-ms' },
  'limits.staging_sweep_interval_ms': {
    kind: 'ms',
    env: 'QFS_STAGING_SWEEP_INTERVAL_MS',
    flag: '--staging-sweep-interval-ms',
  },
  'limits.staging_max_age_ms': { kind: 'ms', env: 'QFS_STAGING_MAX_AGE_MS', flag: '--staging-max-age-ms' },
  'limits.inbound_connections_per_host_per_second': {
    kind: 'count',
    env: 'QFS_INBOUND_CONNECTIONS_PER_HOST_PER_SECOND',
    flag: '--inbound-connections-per-host-per-second',
  },
  'limits.max_pending_inbound_connections': {
    kind: 'count',
    env: 'QFS_MAX_PENDING_INBOUND_CONNECTIONS',
    flag: '--max-pending-inbound-connections',
  },
  'limits.max_inbound_connections_per_host': {
    kind: 'count',
    env: 'QFS_MAX_INBOUND_CONNECTIONS_PER_HOST',
    flag: '--max-inbound-connections-per-host',
  },
  'limits.max_concurrent_reads': {
    kind: 'count',
    env: 'QFS_MAX_CONCURRENT_READS',
    flag: '--max-concurrent-reads',
  },
  'limits.max_concurrent_writes': {
    kind: 'count',
    env: 'QFS_MAX_CONCURRENT_WRITES',
    flag: '--max-concurrent-writes',
  },
  'limits.max_concurrent_proofs': {
    kind: 'count',
    env: 'QFS_MAX_CONCURRENT_PROOFS',
    flag: '--max-concurrent-proofs',
  },
  'limits.max_concurrent_listings': {
    kind: 'count',
    env: 'QFS_MAX_CONCURRENT_LISTINGS',
    flag: '--max-concurrent-listings',
  },
  'limits.write_min_deadline_ms': {
    kind: 'ms',
    env: 'QFS_WRITE_MIN_DEADLINE_MS',
    flag: '--write-min-deadline-ms',
  },
  'limits.write_min_bytes_per_second': {
    kind: 'bytes',
    env: 'QFS_WRITE_MIN_BYTES_PER_SECOND',
    flag: '--write-min-bytes-per-second',
  },
  'limits.read_min_deadline_ms': {
    kind: 'ms',
    env: 'QFS_READ_MIN_DEADLINE_MS',
    flag: '--read-min-deadline-ms',
  },
  'limits.read_min_bytes_per_second': {
    kind: 'bytes',
    env: 'QFS_READ_MIN_BYTES_PER_SECOND',
    flag: '--read-min-bytes-per-second',
  },
  'storage.reserve_bytes': {
    kind: 'bytes',
    env: 'QFS_STORAGE_RESERVE_BYTES',
    flag: '--storage-reserve-bytes',
  },
  'storage.capacity_bytes': {
    kind: 'bytes',
    env: 'QFS_STORAGE_CAPACITY_BYTES',
    flag: '--storage-capacity-bytes',
  },
  'storage.sync': { kind: 'bool', env: 'QFS_STORAGE_SYNC', flag: '--storage-sync' },
} as const satisfies Record<string, { kind: Kind; env: string; flag: string }>

export type ConfigField = keyof typeof FIELDS

/** Every setting's command-line flag (`qfs-node start` takes each one). */
export function configFlags(): Array<{ field: ConfigField; flag: string }> {
  return Object.entries(FIELDS).map(([field, spec]) => ({ field: field as ConfigField, flag: spec.flag }))
}
/** Values given on the command line, by field; lists as arrays, numbers as their text. */
export type ConfigFlags = Partial<Record<ConfigField, string | string[] | boolean>>
