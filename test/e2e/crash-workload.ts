import { createCipheriv, createHash } from 'node:crypto'
import { objectId } from '../../src/core/ids.js'
import type { QfsClient } from '../../src/sdk/index.js'

/**
 * The writers of test/e2e/devnet-crash.test.ts: several clients writing concurrently through
 * different coordinators while daemons are killed, and a ledger of every answer they got.
 */

/** mulberry32: a small seeded generator, so a run's choices are reproducible from its seed. */
export class Rng {
  private state: number
  constructor(seed: number) {
    this.state = seed >>> 0
  }
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0
    let t = this.state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
  /** An integer in [lo, hi]. */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1))
  }
  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)]!
  }
  chance(p: number): boolean {
    return this.next() < p
  }
}

const KIB = 1024
const MIB = 1024 * KIB

/** Deterministic incompressible bytes: AES-256-CTR keystream under a key derived from `label`. */
export function content(label: string, size: number): Uint8Array {
  const key = createHash('sha256').update(`qfs-crash:${label}`).digest()
  return new Uint8Array(createCipheriv('aes-256-ctr', key, Buffer.alloc(16)).update(Buffer.alloc(size)))
}

/** 0 B to about 2 MiB, with the edges a write treats apart (empty, staged whole up to 256 KiB, streamed). */
function pickSize(rng: Rng): number {
  const r = rng.next()
  if (r < 0.08) return 0
  if (r < 0.16) return rng.int(1, 64)
  if (r < 0.6) return rng.int(1 * KIB, 256 * KIB)
  if (r < 0.9) return rng.int(256 * KIB + 1, 1 * MIB)
  return rng.int(1 * MIB + 1, 2 * MIB)
}

export const metadataOf = (version: number) => ({ author_node_id: 'crash', created_at_tick: version })

/**
 * Codes whose docs promise that nothing of this write took effect (docs/sdk.md "Failures",
 * docs/consistency.md "Racing writers"): the homes refused the record, the node refused the request,
 * or the content never arrived whole. Every other failure may have taken effect.
 */
export const DEFINITE_FAILURES = new Set([
  'VERSION_CONFLICT',
  'INVALID_VERSION',
  'TIMEOUT',
  'WRITE_TOO_SLOW',
  'CONTENT_SOURCE_FAILED',
  'INVALID_INPUT',
  'INVALID_METADATA',
])

/**
 * Every answer docs/sdk.md "Failures" gives a write of valid content under crashes: success, a
 * refusal of the version, or an outcome to retry. Any other (NOT_FOUND, INTERNAL, ...) is a bug.
 */
export const WRITE_ANSWERS = new Set([
  'ok',
  'VERSION_CONFLICT',
  'INVALID_VERSION',
  'NODE_UNAVAILABLE',
  'WRITE_OUTCOME_UNKNOWN',
  'NODE_BUSY',
  'QUORUM_NOT_REACHED',
])

/** One answer to one putContent call. */
export interface Attempt {
  oid: string
  version: number
  /** Names the bytes: the same label is the same content (and metadata) at that version. */
  label: string
  size: number
  via: string
  code: string
  hash_commit?: string
  /** A failure's error_detail, for the report. */
  detail?: string
  startedMs: number
  endedMs: number
}

/** A write under way: an Attempt without its answer yet. */
export type InFlight = Omit<Attempt, 'code' | 'endedMs'>

/** Every answer the writers got, and what is in flight at a moment (to aim a kill). */
export class Ledger {
  readonly attempts: Attempt[] = []
  readonly inFlight = new Map<number, InFlight>()
  private next = 0
  readonly t0 = Date.now()

  begin(a: Omit<Attempt, 'code' | 'endedMs' | 'startedMs'>): number {
    const id = this.next++
    this.inFlight.set(id, { ...a, startedMs: Date.now() - this.t0 })
    return id
  }

  end(id: number, code: string, hashCommit?: string, detail?: string): void {
    const a = this.inFlight.get(id)!
    this.inFlight.delete(id)
    this.attempts.push({ ...a, code, hash_commit: hashCommit, detail, endedMs: Date.now() - this.t0 })
  }

  /** Every (object, version) any writer tried, with the contents tried there. */
  versions(): Map<string, { oid: string; version: number; labels: Map<string, Attempt[]> }> {
    const out = new Map<string, { oid: string; version: number; labels: Map<string, Attempt[]> }>()
    for (const a of this.attempts) {
      const key = `${a.oid}/${a.version}`
      const v = out.get(key) ?? { oid: a.oid, version: a.version, labels: new Map() }
      v.labels.set(a.label, [...(v.labels.get(a.label) ?? []), a])
      out.set(key, v)
    }
    return out
  }

  acknowledged(): Attempt[] {
    return this.attempts.filter((a) => a.code === 'ok')
  }

  /** Counts of each answer code, for the report. */
  tally(): Record<string, number> {
    const out: Record<string, number> = {}
    for (const a of this.attempts) out[a.code] = (out[a.code] ?? 0) + 1
    return out
  }
}

export interface WorkloadInit {
  clients: Map<string, QfsClient>
  nodeIds: readonly string[]
  ledger: Ledger
  seed: number
  writers: number
  /** Identical attempts of one write at most (the first and its retries). */
  maxAttempts?: number
}

/**
 * Writers taking jobs until `stop()`: a job is one object written at versions 1..k, alone or by two
 * writers racing through two coordinators (different contents, or the same one), each write retried
 * identically after an answer that does not say it failed for good, through the next node.
 */
export class Workload {
  private stopped = false
  private readonly running: Array<Promise<void>>
  private readonly init: WorkloadInit
  jobs = 0

  constructor(init: WorkloadInit) {
    this.init = init
    this.running = Array.from({ length: init.writers }, (_, w) => this.writer(w))
  }

  /** No new job starts; resolves once every writer finished its current one. */
  async stop(): Promise<void> {
    this.stopped = true
    await Promise.all(this.running)
  }

  private async writer(w: number): Promise<void> {
    const rng = new Rng(this.init.seed * 1000 + w)
    const home = this.init.nodeIds[w % this.init.nodeIds.length]!
    for (let job = 0; !this.stopped; job++) {
      this.jobs++
      const oid = objectId('crash', `s${this.init.seed}-w${w}-j${job}`)
      const versions = rng.int(1, 3)
      const r = rng.next()
      const kind = r < 0.6 ? 'solo' : r < 0.85 ? 'race' : 'same'
      const partner = rng.pick(this.init.nodeIds.filter((n) => n !== home))
      for (let v = 1; v <= versions; v++) {
        const size = pickSize(rng)
        const sides =
          kind === 'solo'
            ? [{ label: `${oid}/${v}/a`, via: home }]
            : [
                { label: `${oid}/${v}/a`, via: home },
                { label: kind === 'same' ? `${oid}/${v}/a` : `${oid}/${v}/b`, via: partner },
              ]
        // A racing writer's content has its own size, so two contents differ in length too.
        const sizes = sides.map((_, i) => (i === 0 ? size : kind === 'same' ? size : pickSize(rng)))
        const pauses = sides.map(() => rng.int(0, 30))
        const outcomes = await Promise.all(
          sides.map((s, i) => this.settle(oid, v, s.label, sizes[i]!, s.via, pauses[i]!, rng.int(0, 1e9))),
        )
        // A later version is only tried on top of an acknowledged one: a gap would just be refused.
        if (!outcomes.includes('ok')) break
      }
      // A pause between objects bounds what the checks afterwards read back (the machine has 2 cores).
      await sleep(rng.int(100, 600))
    }
  }

  /** One write through `via`, retried identically through the next nodes while its outcome is open. */
  private async settle(
    oid: string,
    version: number,
    label: string,
    size: number,
    via: string,
    pauseMs: number,
    seed: number,
  ): Promise<string> {
    const rng = new Rng(seed)
    const bytes = content(label, size)
    const nodes = this.init.nodeIds
    let at = nodes.indexOf(via)
    let code = 'none'
    await sleep(pauseMs)
    for (let attempt = 0; attempt < (this.init.maxAttempts ?? 6); attempt++) {
      const node = nodes[at % nodes.length]!
      const id = this.init.ledger.begin({ oid, version, label, size, via: node })
      const answer = await this.init.clients
        .get(node)!
        .putContent(oid, version, bytes, metadataOf(version), { signal: AbortSignal.timeout(30_000) })
      code = answer.ok ? 'ok' : answer.code
      if (answer.ok) this.init.ledger.end(id, code, answer.hash_commit)
      else this.init.ledger.end(id, code, undefined, answer.error_detail)
      if (code === 'ok' || DEFINITE_FAILURES.has(code)) return code
      at++
      // Backing off past a daemon's restart (seconds on this machine), so a write that needs the
      // killed node back (a shard left on one replica beside a home holding a loser's record) gets it.
      await sleep(Math.min(2_500, rng.int(150, 300) * 2 ** attempt))
    }
    return code
  }
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
