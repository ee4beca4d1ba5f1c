/**
 * How bench:floor combines the costs it measured into floors (src/bench/floor.ts), apart from the
 * script so it can be tested. With R replicas among N nodes, the coordinator is one of an object's
 * replicas R/N of the time, so it pushes each byte to R - R/N others on average.
 */
export interface FloorCosts {
  /** CPU ms per MiB of one hop over a libp2p stream, one SHA3-256 pass, one LevelDB copy. */
  transport: number
  sha3: number
  leveldb: number
}

export function floorModel(
  costs: FloorCosts,
  r: number,
  n: number,
): { write_hops: number; write_hashes: number; write: number; read: number } {
  const remote = r - r / n
  const writeHops = 1 + remote
  // The client's hash_commit, the coordinator's hash_commit and leaves, and each remote replica's
  // leaves (the coordinator's own replica takes the leaves it computed).
  const writeHashes = 1 + 2 + remote
  return {
    write_hops: writeHops,
    write_hashes: writeHashes,
    write: writeHops * costs.transport + writeHashes * costs.sha3 + r * costs.leveldb,
    // Two hops (holder to reading node to client); the reading node's leaf check, and the client's
    // leaf and hash_commit checks.
    read: 2 * costs.transport + 3 * costs.sha3,
  }
}
