export { type CatalogueEntry, liveNetwork, type NetworkState, networkHash, replayNetwork } from './network.js'
export { liveNodeState, replayNodeLog } from './node.js'
export {
  type IndexState,
  type NodeState,
  nodeState,
  type ShardState,
  type StorageMetrics,
  stateHash,
} from './state.js'
