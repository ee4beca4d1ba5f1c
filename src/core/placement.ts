import { bytesMod, compareBytes, concatBytes, decodeId, parseId, utf8 } from './bytes.js'
import { isWellFormedText } from './canonical.js'
import { InsufficientNodesError, InvalidInputError } from './errors.js'
import { sha3 } from './hash.js'

/** Where one shard (or one object's catalogue) lives: `replicationFactor` consecutive eligible nodes. */
export interface Placement {
  startIndex: number
  selected: string[]
}

const CATALOGUE_DOMAIN = utf8('QFS-CATALOGUE')

/**
 * PROTOCOL.md "Placement": the eligible node ids, deduplicated and sorted by their UTF-8 bytes (no
 * locale collation; JS `<` compares UTF-16 units and orders astral characters differently).
 */
export function sortEligible(nodes: readonly string[]): string[] {
  if (!Array.isArray(nodes)) throw new InvalidInputError('eligible nodes must be an array of node ids')
  const byId = new Map<string, Uint8Array>()
  for (const id of nodes as readonly unknown[]) {
    if (typeof id !== 'string' || id === '')
      throw new InvalidInputError('a node id must be a non-empty string')
    if (!isWellFormedText(id)) throw new InvalidInputError('a node id contains a lone surrogate')
    if (!byId.has(id)) byId.set(id, utf8(id))
  }
  return [...byId.entries()].sort((a, b) => compareBytes(a[1], b[1])).map(([id]) => id)
}

/**
 * An epoch's eligible list, sorted once: each placement is then one SHA3 of 32 bytes and a modulo,
 * which is what lets a coordinator place every shard of a large write against thousands of nodes.
 */
export class EligibleSet {
  readonly nodes: readonly string[]
  private readonly members: ReadonlySet<string>

  constructor(nodes: readonly string[]) {
    this.nodes = Object.freeze(sortEligible(nodes))
    this.members = new Set(this.nodes)
  }

  get size(): number {
    return this.nodes.length
  }

  has(id: string): boolean {
    return this.members.has(id)
  }

  /** `start_index = int(H(shard_id)) mod len`, then `replicationFactor` nodes from there, wrapping. */
  place(shardId: string, replicationFactor: number): Placement {
    const raw = decodeId(shardId)
    if (raw === undefined) throw new InvalidInputError('shard_id must be 64 lower-case hex characters')
    this.checkFactor(replicationFactor)
    return this.select(sha3(raw), replicationFactor)
  }

  /**
   * Our extension (docs/architecture.md, write path): the nodes that keep an object's version list,
   * by the placement formula with `start = int(H(utf8("QFS-CATALOGUE") || object_id)) mod len`.
   * The domain prefix keeps the catalogue's start independent of any shard's.
   */
  catalogueHomes(objectId: string, replicationFactor: number): string[] {
    const raw = parseId(objectId, 'object_id')
    this.checkFactor(replicationFactor)
    return this.select(sha3(concatBytes([CATALOGUE_DOMAIN, raw])), replicationFactor).selected
  }

  private checkFactor(replicationFactor: number): void {
    if (
      typeof replicationFactor !== 'number' ||
      !Number.isSafeInteger(replicationFactor) ||
      replicationFactor < 1
    ) {
      throw new InvalidInputError('replication factor must be an integer >= 1')
    }
    if (this.nodes.length < replicationFactor) {
      throw new InsufficientNodesError(
        `${this.nodes.length} eligible nodes, replication factor ${replicationFactor}: no under-replicated write`,
      )
    }
  }

  private select(digest: Uint8Array, replicationFactor: number): Placement {
    const n = this.nodes.length
    const startIndex = bytesMod(digest, n)
    const selected: string[] = new Array(replicationFactor)
    for (let i = 0; i < replicationFactor; i++) selected[i] = this.nodes[(startIndex + i) % n]!
    return { startIndex, selected }
  }
}

/** One placement without keeping the sorted list (sorts on every call; use `EligibleSet` in loops). */
export function placeShard(
  shardId: string,
  eligibleNodes: readonly string[],
  replicationFactor: number,
): Placement {
  parseId(shardId, 'shard_id')
  return new EligibleSet(eligibleNodes).place(shardId, replicationFactor)
}
