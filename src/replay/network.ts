import { compareUtf8 } from '../core/bytes.js'
import { InvalidInputError } from '../core/errors.js'
import type { StorageMetadata } from '../core/metadata.js'
import type { VersionFacts } from '../core/record.js'
import { majority } from '../engine/context.js'
import type { StorageEvent } from '../log/index.js'
import { replayNodeLog } from './node.js'
import { compareVersionKey, type NodeState, stateHash } from './state.js'

/** One version of the network's catalogue, with who holds each of its shards. */
export interface CatalogueEntry extends VersionFacts {
  metadata: StorageMetadata
  homes: string[]
  shards: Array<{
    shard_id: string
    shard_index: number
    length: number
    merkle_root: string
    holders: string[]
  }>
}

export interface NetworkState {
  catalogue: CatalogueEntry[]
  nodes: Array<{ node_id: string; versions: number; shards: number; bytes_stored: number }>
}

/**
 * The catalogue by the rule reads use: a version exists when a majority of its catalogue homes
 * hold the same record. Inputs are sorted first, so the order nodes are read in cannot matter.
 */
function buildNetwork(states: readonly NodeState[]): NetworkState {
  const sorted = [...states].sort((a, b) => compareUtf8(a.node_id, b.node_id))
  const versions = new Map<string, { entry: NodeState['index'][number]; homes: Set<string> }>()
  for (const c of sorted) {
    for (const r of c.index) {
      // A home is a node the record itself names; a commit that claims `home` elsewhere does not vote.
      if (!r.home || !r.catalogue_homes.includes(c.node_id)) continue
      const key = `${r.object_id}/${r.version}/${r.record_digest}`
      const v = versions.get(key) ?? { entry: r, homes: new Set<string>() }
      v.homes.add(c.node_id)
      versions.set(key, v)
    }
  }
  const catalogue: CatalogueEntry[] = []
  for (const { entry, homes } of versions.values()) {
    if (homes.size < majority(entry.catalogue_homes.length)) continue
    const shards = new Map<string, CatalogueEntry['shards'][number]>()
    for (const c of sorted) {
      for (const s of c.shards) {
        if (
          s.object_id !== entry.object_id ||
          s.version !== entry.version ||
          s.hash_commit !== entry.hash_commit
        )
          continue
        const known = shards.get(s.shard_id) ?? {
          shard_id: s.shard_id,
          shard_index: s.shard_index,
          length: s.length,
          merkle_root: s.merkle_root,
          holders: [],
        }
        known.holders.push(c.node_id)
        shards.set(s.shard_id, known)
      }
    }
    catalogue.push({
      object_id: entry.object_id,
      version: entry.version,
      kind: entry.kind,
      hash_commit: entry.hash_commit,
      content_size: entry.content_size,
      metadata: entry.metadata,
      homes: [...homes].sort(compareUtf8),
      shards: [...shards.values()].sort((a, b) => a.shard_index - b.shard_index),
    })
  }
  catalogue.sort(compareVersionKey)
  const nodes = sorted.map((c) => ({
    node_id: c.node_id,
    versions: c.metrics.versions,
    shards: c.metrics.shards,
    bytes_stored: c.metrics.bytes_stored,
  }))
  return { catalogue, nodes }
}

/**
 * The catalogue from the logs of all nodes (each log in its own order; logs in any order). Each log
 * must hold entries of the node it is given for (`LOG_IDENTITY_MISMATCH`), and one log per node
 * (`INVALID_INPUT`), so no node's records count twice.
 */
export async function replayNetwork(
  logs: ReadonlyArray<{ nodeId: string; events: AsyncIterable<StorageEvent> | Iterable<StorageEvent> }>,
): Promise<NetworkState> {
  const seen = new Set<string>()
  for (const { nodeId } of logs) {
    if (seen.has(nodeId)) throw new InvalidInputError(`two logs are given for node ${nodeId}`)
    seen.add(nodeId)
  }
  const states: NodeState[] = []
  for (const { nodeId, events } of logs) states.push(await replayNodeLog(nodeId, events))
  return buildNetwork(states)
}

/** The same catalogue from the nodes' live stores, for comparison with a replay. */
export function liveNetwork(states: readonly NodeState[]): NetworkState {
  return buildNetwork(states)
}

export function networkHash(state: NetworkState): string {
  return stateHash(state)
}
