/**
 * A node's shard store: staged blocks, shard manifests, the object index, atomic commits, scrub and
 * staging cleanup, over one abstract-level database (classic-level on disk, memory-level in tests).
 */
export {
  type CommitRole,
  type CommitSummary,
  type IndexEntry,
  type PreparedCommit,
  type ShardCommitSummary,
  toIndexEntry,
} from './commit.js'
export type { StoreStats } from './counters.js'
export {
  blockKey,
  blockRange,
  indexKey,
  openNodeDb,
  type RootDb,
  type StoreBatchOp,
  type StoreSublevels,
  storeSublevels,
} from './db.js'
export {
  IntegrityMismatchError,
  InvalidVersionError,
  NotFoundError,
  RootMismatchError,
  StorageFullError,
  StoreClosedError,
  VersionConflictError,
  WriteLockNotHeldError,
} from './errors.js'
export {
  DEFAULT_LIST_LIMIT,
  type ListFilters,
  type ListPage,
  MAX_LIST_LIMIT,
  MAX_LIST_SCAN_ENTRIES,
} from './listing.js'
export { decodeManifest, type ShardManifest, type StagingMarker } from './manifest.js'
export { Mutex } from './mutex.js'
export type { BlockProof } from './reader.js'
export {
  type ScrubCorruption,
  type ScrubOptions,
  type ScrubProgress,
  type ScrubReport,
  scrubStore,
} from './scrub.js'
export {
  DiskSpaceGuard,
  type DiskSpaceInit,
  filesystemFreeBytes,
  type SpaceGuard,
  type SpaceStatus,
} from './space.js'
export type { ShardHeader, ShardWriter, StagedShard, WholeShard } from './staging.js'
export type { StagedShardRef, SweepOptions } from './staging-sweep.js'
export {
  ShardStore,
  type ShardStoreComponents,
  type ShardStoreInit,
} from './store.js'

import type { ShardStoreComponents, ShardStoreInit } from './store.js'
import { ShardStore } from './store.js'

/** Factory in the components style: `shardStore({ params })({ db })`. */
export function shardStore(init: ShardStoreInit): (components: ShardStoreComponents) => ShardStore {
  return (components) => new ShardStore(components, init)
}
