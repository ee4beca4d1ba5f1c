import type { QfsClient } from '../../src/sdk/index.js'
import { type Ledger, Rng, sleep } from './crash-workload.js'

/**
 * Answers a read of an acknowledged version may give while a node is down or frozen (docs/sdk.md
 * "Failures", docs/consistency.md "What a reader sees"): too few homes or replicas answered, or the
 * node read through was the one struck. NOT_FOUND is not among them: an acknowledged version's
 * record is on a majority of its homes, and a read by number answers NOT_FOUND only when no record
 * could have a majority even counting every home that did not answer.
 */
export const READ_UNDER_FAULT_ANSWERS = new Set([
  'ok',
  'QUORUM_NOT_REACHED',
  'SHARD_UNAVAILABLE',
  'NODE_UNAVAILABLE',
  'NODE_BUSY',
])

/**
 * One reader that, while the faults go on, reads acknowledged versions by number through random
 * nodes: each answer must be the acknowledged content or a failure in READ_UNDER_FAULT_ANSWERS,
 * never other content and never "not stored".
 */
export class FaultReader {
  private stopped = false
  private readonly running: Promise<void>
  readonly problems: string[] = []
  readonly tally: Record<string, number> = {}
  /** Each failed read: when it began (ms after the ledger's start), how long it took, its code and node. */
  readonly failures: Array<{ at: number; ms: number; code: string; via: string }> = []

  constructor(
    private readonly clients: Map<string, QfsClient>,
    private readonly nodeIds: readonly string[],
    private readonly ledger: Ledger,
    seed: number,
  ) {
    this.running = this.loop(new Rng(seed * 7919 + 1))
  }

  async stop(): Promise<void> {
    this.stopped = true
    await this.running
  }

  private async loop(rng: Rng): Promise<void> {
    while (!this.stopped) {
      await sleep(rng.int(100, 300))
      const acked = this.ledger.acknowledged()
      if (acked.length === 0) continue
      const a = rng.pick(acked)
      const node = rng.pick(this.nodeIds)
      const t = Date.now()
      const read = await this.clients
        .get(node)!
        .getContent(a.oid, a.version, { signal: AbortSignal.timeout(30_000) })
      const code = read.ok ? 'ok' : read.code
      this.tally[code] = (this.tally[code] ?? 0) + 1
      if (!read.ok)
        this.failures.push({ at: t - this.ledger.t0, ms: Date.now() - t, code, via: node.slice(-6) })
      const at = `${a.oid}/${a.version} via ${node.slice(-6)} at ${t - this.ledger.t0} ms (${Date.now() - t} ms)`
      if (read.ok && read.hash_commit !== a.hash_commit)
        this.problems.push(`${at}: acknowledged as ${a.hash_commit}, read as ${read.hash_commit}`)
      // Every deadline of a daemon is shorter: a read still open this long hangs.
      if (Date.now() - t > 25_000)
        this.problems.push(`${at}: answered ${code} only after the client's patience`)
      if (!READ_UNDER_FAULT_ANSWERS.has(code))
        this.problems.push(`${at}: acknowledged, read answers ${code}: ${read.ok ? '' : read.error_detail}`)
    }
  }
}
