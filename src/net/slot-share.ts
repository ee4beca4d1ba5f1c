/**
 * Fair share when every slot is taken (docs/protocol.md 4.3, *Sharing slots under contention*): an
 * address yields a slot only while its exchanges, together, moved fewer bytes than this many times
 * the minimum rate per second the node waited on them (1 MiB/s at the default 64 KiB/s): a client
 * that keeps up a useful rate never yields.
 */
export const YIELD_BELOW_RATE_FACTOR = 16

/**
 * How much waiting an address's history keeps: past it, the history's waiting and bytes are both
 * halved, and halved again for every SHARE_HISTORY_MS of the clock since it was last brought up to
 * date, so the rate it shows is its recent one: a client cannot bank a fast start against a slow
 * hour, and one that stalled and went quiet gets a fresh hearing in time.
 */
export const SHARE_HISTORY_MS = 60_000

/** Addresses holding no slot whose history is kept, so one that drops all its slots and comes back is still known. */
export const IDLE_SOURCES_KEPT = 4096

export interface ShareRule {
  /** Waiting an address's exchanges must have cost the node, in all, before any of them yields. */
  yieldAfterMs: number
  /** The minimum rate, in bytes per second of waiting, that YIELD_BELOW_RATE_FACTOR multiplies. */
  minBytesPerSecond: number
}

/** One exchange holding a slot, as the share sees it. */
export interface ShareMember {
  /** Bytes this exchange moved so far. */
  moved(): number
  /** Waiting this exchange cost the node so far, the wait in progress included, in ms. */
  waited(): number
  /** When the wait in progress began, if the node is waiting for this exchange's client now. */
  waitingSince(): number | undefined
}

/** What an address's exchanges have cost the node: slots now, and recent waiting and bytes. */
interface SourceRecord<M> {
  key: string
  members: Set<M>
  /** Waiting its exchanges completed (ended ones included), in ms, and the bytes they moved. */
  waited: number
  moved: number
  /** When `waited` and `moved` were last brought up to date (the clock's ms). */
  updatedAt: number
}

/**
 * The slots of one kind of exchange by the address they come from, with each address's recent
 * history, and which exchange should give its slot to a newcomer when all are taken. Addresses,
 * not exchanges, are judged: one that reopens its exchanges keeps its history, so it cannot dodge the
 * hearing by starting afresh.
 */
export class SlotShare<M extends ShareMember> {
  private readonly rule: ShareRule
  private readonly now: () => number
  private readonly sources = new Map<string, SourceRecord<M>>()
  /** The records holding two slots or more: the only ones a newcomer can take from. */
  private readonly crowded = new Set<SourceRecord<M>>()

  constructor(rule: ShareRule, now: () => number) {
    this.rule = rule
    this.now = now
  }

  /** Slots `key` holds now. */
  slotsOf(key: string): number {
    return this.sources.get(key)?.members.size ?? 0
  }

  /**
   * How many addresses the share keeps as holding two slots or more. For tests: it must be exactly
   * those that hold two now, or the set grows with every address that ever held two (it is only
   * read by `victimFor`, which skips the others, so no decision shows it).
   */
  crowdedCount(): number {
    return this.crowded.size
  }

  /** `member` now holds a slot for `key`. */
  join(key: string, member: M): void {
    let record = this.sources.get(key)
    if (record === undefined) {
      record = { key, members: new Set(), waited: 0, moved: 0, updatedAt: this.now() }
      this.sources.set(key, record)
    }
    record.members.add(member)
    if (record.members.size >= 2) this.crowded.add(record)
  }

  /** A wait of `member`'s that ended: `waited` ms, `bytes` moved. */
  waitEnded(key: string, waited: number, bytes: number): void {
    const record = this.sources.get(key)
    if (record === undefined) return
    this.age(record)
    record.waited += waited
    record.moved += bytes
    while (record.waited > SHARE_HISTORY_MS) {
      record.waited = Math.floor(record.waited / 2)
      record.moved = Math.floor(record.moved / 2)
    }
  }

  /**
   * Halves a record's history once per SHARE_HISTORY_MS of the clock since it was last brought up
   * to date, so an address that stalled and then went quiet (or kept only fast exchanges, which
   * rarely wait) gets a fresh hearing in time rather than only after moving its old waiting away.
   */
  private age(record: SourceRecord<M>): void {
    const t = this.now()
    const halvings = Math.floor((t - record.updatedAt) / SHARE_HISTORY_MS)
    if (halvings <= 0) return
    record.updatedAt += halvings * SHARE_HISTORY_MS
    const shift = Math.min(halvings, 53)
    record.waited = Math.floor(record.waited / 2 ** shift)
    record.moved = Math.floor(record.moved / 2 ** shift)
  }

  /** `member` gave up its slot; a wait still in progress counts (call `waitEnded` first). */
  leave(key: string, member: M): void {
    const record = this.sources.get(key)
    if (record === undefined) return
    record.members.delete(member)
    if (record.members.size < 2) this.crowded.delete(record)
    if (record.members.size > 0) return
    // Most recently emptied last, so the oldest idle histories are the ones let go.
    this.sources.delete(key)
    this.sources.set(key, record)
    if (this.sources.size <= IDLE_SOURCES_KEPT) return
    for (const [k, r] of this.sources) {
      if (this.sources.size <= IDLE_SOURCES_KEPT) break
      if (r.members.size === 0) this.sources.delete(k)
    }
  }

  /**
   * The exchange that should give its slot to a newcomer from `key`, if any. Its address holds at
   * least two slots more than `key` does (so shares grow more even and never just swap; a single
   * client is never held back), its exchanges together kept the node waiting `yieldAfterMs` at
   * under YIELD_BELOW_RATE_FACTOR times the minimum rate, and the node is waiting on it now (a write
   * whose content is all in, or a read busy with its replicas, is not the client's doing). Of such
   * addresses the one holding the most slots (then the slower, then the first by key as a string);
   * within it, of the exchanges the node is waiting on, the one whose own client was slowest (fewest
   * bytes per ms of its own waiting; then the one waiting longest now), so a stuck client behind a
   * gateway yields before the gateway's healthy reads.
   */
  victimFor(key: string): { member: M; moved: number; waited: number } | undefined {
    const mine = this.slotsOf(key)
    const t = this.now()
    const rate = BigInt(this.rule.minBytesPerSecond) * BigInt(YIELD_BELOW_RATE_FACTOR)
    let best: { record: SourceRecord<M>; waited: number } | undefined
    for (const record of this.crowded) {
      if (record.members.size < mine + 2) continue
      this.age(record)
      let waited = record.waited
      let waiting = false
      for (const m of record.members) {
        const since = m.waitingSince()
        if (since === undefined) continue
        waiting = true
        waited += t - since
      }
      waited = Math.floor(waited)
      if (!waiting || waited < this.rule.yieldAfterMs) continue
      // moved / (waited / 1000) < rate, in integers.
      if (BigInt(record.moved) * 1000n >= rate * BigInt(waited)) continue
      if (best === undefined || before({ record, waited }, best)) best = { record, waited }
    }
    if (best === undefined) return undefined
    let victim: M | undefined
    for (const m of best.record.members) {
      if (m.waitingSince() !== undefined && (victim === undefined || slower(m, victim))) victim = m
    }
    return victim === undefined
      ? undefined
      : { member: victim, moved: best.record.moved, waited: best.waited }
  }
}

/**
 * Whether exchange `x`'s client was slower than `y`'s: fewer bytes per ms of its own waiting
 * (floored ms, cross-multiplied), then the earlier current wait.
 */
function slower(x: ShareMember, y: ShareMember): boolean {
  const xRate = BigInt(x.moved()) * BigInt(Math.floor(y.waited()))
  const yRate = BigInt(y.moved()) * BigInt(Math.floor(x.waited()))
  if (xRate !== yRate) return xRate < yRate
  return (x.waitingSince() ?? 0) < (y.waitingSince() ?? 0)
}

/** Whether address `x` should yield before `y`: more slots, then a lower rate, then the lower key. */
function before<M>(
  x: { record: SourceRecord<M>; waited: number },
  y: { record: SourceRecord<M>; waited: number },
): boolean {
  if (x.record.members.size !== y.record.members.size) return x.record.members.size > y.record.members.size
  const xRate = BigInt(x.record.moved) * BigInt(y.waited)
  const yRate = BigInt(y.record.moved) * BigInt(x.waited)
  if (xRate !== yRate) return xRate < yRate
  return x.record.key < y.record.key
}
