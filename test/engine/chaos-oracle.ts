import { toHex } from '../../src/core/bytes.js'
import { hashCommit } from '../../src/core/commit.js'
import { objectId } from '../../src/core/ids.js'
import { metadataSeed, normalizeMetadata } from '../../src/core/metadata.js'
import type { StoreSuccess } from '../../src/engine/responses.js'
import type { ChaosCase } from './chaos-schedule.js'
import { bytesOf, meta } from './suite.js'

/**
 * What the chaos test knows independently of the engine: the contents a version can have (the
 * writes the case may send for it, with their hash_commit computed by the core formula), every
 * content, root and acknowledgement the run observed, and the violations of docs/consistency.md's
 * claims found on the way.
 */

export interface Candidate {
  variant: 0 | 1 | 2
  kind: 'STORE' | 'UPDATE' | 'DELETE_MARKER'
  content: Uint8Array
  metadata: ReturnType<typeof meta>
  hashCommit: string
}

export interface Ack {
  oid: string
  version: number
  variant: 0 | 1 | 2
  answer: StoreSuccess
  /** When the acknowledgement reached the writer (performance.now()). */
  at: number
}

/** The homes' verdicts a writer is told as they are (src/engine/decide.ts WRITER_VERDICTS). */
const REFUSALS: ReadonlySet<string> = new Set(['VERSION_CONFLICT', 'INVALID_VERSION', 'INVALID_INPUT'])

export class ChaosOracle {
  readonly oids: string[]
  readonly violations: string[] = []
  readonly acks: Ack[] = []
  /** `oid/version` -> the one hash_commit observed for it, and where first. */
  private readonly contents = new Map<string, { hash: string; where: string }>()
  /** `oid/version/shard_id` -> the one merkle root observed for it, and where first. */
  private readonly roots = new Map<string, { root: string; where: string }>()
  private readonly candidateCache = new Map<string, Candidate[]>()
  /** Every write sent, by `oid/version/variant`: when it started and whether the homes refused it. */
  private readonly attempts = new Map<string, Array<{ start: number; refused?: boolean }>>()
  /** Every content seen readable, by `oid/version/variant`, and when and where first. */
  private readonly sightings = new Map<string, { at: number; where: string }>()

  constructor(private readonly c: ChaosCase) {
    this.oids = Array.from({ length: c.objects }, (_, i) => objectId('chaos', `${c.label}-${i}`))
  }

  /** The three writes a case may send for `(oid, version)`; identical for every writer. */
  candidates(oid: string, version: number): Candidate[] {
    const key = `${oid}/${version}`
    let out = this.candidateCache.get(key)
    if (out === undefined) {
      out = ([0, 1, 2] as const).map((variant) => {
        const metadata = meta(1000 * version + variant)
        // The first version of an object is a STORE, later ones UPDATEs (core/record.ts).
        const kind = variant === 2 ? 'DELETE_MARKER' : version === 1 ? 'STORE' : 'UPDATE'
        const size = variant === 2 ? 0 : (this.c.sizes[variant] + 37 * version) % 3001
        const content = bytesOf(`chaos/${key}/${variant}`, size)
        const hash = toHex(hashCommit(content, 1, metadataSeed(normalizeMetadata(metadata))))
        return { variant, kind: kind as Candidate['kind'], content, metadata, hashCommit: hash }
      })
      this.candidateCache.set(key, out)
    }
    return out
  }

  violation(text: string): void {
    this.violations.push(text)
  }

  /**
   * Claim 1 ("at most one content is ever readable for a given (object_id, version)"): a content
   * observed for a version must be one the case wrote, and the same one every time.
   */
  observe(oid: string, version: number, hash: string, where: string): Candidate | undefined {
    const candidate = this.candidates(oid, version).find((c) => c.hashCommit === hash)
    if (candidate === undefined)
      this.violation(`${where}: ${oid.slice(0, 8)}/${version} has ${hash}, no content the case wrote`)
    if (candidate !== undefined) {
      const seen = `${oid}/${version}/${candidate.variant}`
      if (!this.sightings.has(seen)) this.sightings.set(seen, { at: performance.now(), where })
    }
    const key = `${oid}/${version}`
    const first = this.contents.get(key)
    if (first === undefined) this.contents.set(key, { hash, where })
    else if (first.hash !== hash)
      this.violation(
        `two contents for ${oid.slice(0, 8)}/${version}: ${first.hash.slice(0, 12)} (${first.where}) and ${hash.slice(0, 12)} (${where})`,
      )
    return candidate
  }

  /**
   * A write starts: returns the call to make with its answer's code (undefined when acknowledged),
   * which records whether the homes refused it.
   */
  attempt(oid: string, version: number, variant: 0 | 1 | 2): (code: string | undefined) => void {
    const key = `${oid}/${version}/${variant}`
    const entry: { start: number; refused?: boolean } = { start: performance.now() }
    this.attempts.set(key, [...(this.attempts.get(key) ?? []), entry])
    return (code) => {
      entry.refused = code !== undefined && REFUSALS.has(code)
    }
  }

  /**
   * docs/consistency.md, "A write": the coordinator answers the homes' refusal only when their own
   * refusals leave the record short of a majority ("answering a refusal could tell a writer "nothing
   * written" of a version that then reads as its content"): a content seen readable had a write of
   * it that started before and was not refused (acknowledged, QUORUM_NOT_REACHED, or not settled).
   */
  checkRefusedNeverReadable(): void {
    for (const [key, seen] of this.sightings) {
      const before = (this.attempts.get(key) ?? []).filter((a) => a.start < seen.at)
      if (!before.some((a) => a.refused !== true))
        this.violation(
          `${seen.where}: ${key.slice(0, 8)}${key.slice(64)} readable, but every write of it before (${before.length}) was refused`,
        )
    }
  }

  /** The contents every write of which (so far) the homes refused. */
  refusedOnly(): Array<{ oid: string; version: number; variant: 0 | 1 | 2 }> {
    const out: Array<{ oid: string; version: number; variant: 0 | 1 | 2 }> = []
    for (const [key, list] of this.attempts) {
      if (!list.every((a) => a.refused === true)) continue
      const [oid, version, variant] = key.split('/')
      out.push({ oid: oid!, version: Number(version), variant: Number(variant) as 0 | 1 | 2 })
    }
    return out
  }

  /** The same claim for a shard's merkle root, as reads and proofs show it. */
  observeRoot(oid: string, version: number, shardId: string, root: string, where: string): void {
    const key = `${oid}/${version}/${shardId}`
    const first = this.roots.get(key)
    if (first === undefined) this.roots.set(key, { root, where })
    else if (first.root !== root)
      this.violation(
        `two roots for ${oid.slice(0, 8)}/${version} shard ${shardId.slice(0, 8)}: (${first.where}) and (${where})`,
      )
  }

  /** The hash_commit observed for a version, if any. */
  observed(oid: string, version: number): string | undefined {
    return this.contents.get(`${oid}/${version}`)?.hash
  }

  /** The highest version of `oid` acknowledged before `time`, 0 for none. */
  ackedBefore(oid: string, time: number): number {
    let high = 0
    for (const a of this.acks) if (a.oid === oid && a.at < time) high = Math.max(high, a.version)
    return high
  }

  /** The version a write of `oid` starting now names: the latest acknowledged plus one, less `back`. */
  nextVersion(oid: string, back: -1 | 0 | 1 | 2): number {
    return Math.max(1, this.ackedBefore(oid, Number.POSITIVE_INFINITY) + 1 - back)
  }
}
