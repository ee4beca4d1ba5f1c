import fc from 'fast-check'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import type { Admitted } from '../../src/net/admission.js'
import { ReadTooSlowError, WriteTooSlowError } from '../../src/net/errors.js'
import { ReadAdmission } from '../../src/net/read-admission.js'
import { WriteAdmission } from '../../src/net/write-admission.js'

/**
 * Fair share of public slots under contention (docs/protocol.md 4.3): when every slot is taken, a
 * newcomer from another address takes a slot of an address holding at least two slots more, whose
 * exchanges together have been slow lately.
 */

// 64 KiB/s minimum rate, so an address yields only below 16 x 64 KiB = 1 MiB per second of waiting.
const RATE = 65_536
const YIELD_RATE = 16 * RATE
const MiB = 1024 * 1024
const limits = {
  maxConcurrentReads: 4,
  readMinDeadlineMs: 3_600_000,
  readMinBytesPerSecond: RATE,
  yieldAfterWaitMs: 10_000,
}

let clock = 0
const now = () => clock
const open = () => new AbortController().signal

beforeEach(() => {
  clock = 0
  // The minimum-rate timers must not fire: this suite is about yielding, not the rate rule.
  vi.useFakeTimers()
})
afterEach(() => {
  expect(vi.getTimerCount()).toBe(0)
  vi.useRealTimers()
})

/** The node waits `ms` on `read`'s client, which then takes `bytes`. */
function waited(read: Admitted, ms: number, bytes: number): void {
  read.beginWait()
  clock += ms
  read.endWait(bytes)
}

const yieldedReason = expect.objectContaining({
  code: 'READ_TOO_SLOW',
  message: expect.stringContaining('went to a client from another address'),
})
const busy = expect.objectContaining({ code: 'NODE_BUSY' })

describe('sharing read slots between addresses', () => {
  it('never holds back a single address: a gateway alone keeps every slot, however slow', () => {
    const admission = new ReadAdmission(limits, now)
    const held = [0, 1, 2, 3].map(() => admission.admit(open(), 'gateway'))
    for (const r of held) waited(r, 60_000, 0)
    for (const r of held) r.beginWait()
    expect(() => admission.admit(open(), 'gateway')).toThrow(busy)
    expect(held.every((r) => !r.signal.aborted)).toBe(true)
    for (const r of held) r.release()
  })

  it('takes a slot of the address holding the most, from its slowest waiting read: a stuck client behind a gateway yields first', () => {
    const admission = new ReadAdmission({ ...limits, maxConcurrentReads: 6 }, now)
    const a = [0, 1, 2, 3].map(() => admission.admit(open(), 'a'))
    const c = [0, 1].map(() => admission.admit(open(), 'c'))
    a[0]!.beginWait() // took its header, then nothing for 50 s
    c[0]!.beginWait() // 'c' is as stuck, but holds fewer slots
    clock += 50_000
    waited(a[1]!, 100, 4 * MiB) // healthy reads of the same gateway
    waited(a[2]!, 100, 2 * MiB)
    for (const r of [a[1]!, a[2]!, a[3]!]) r.beginWait() // a[3] is fresh: 0 bytes, like a[0]
    clock += 5
    const newcomer = admission.admit(open(), 'b')
    expect(a[0]!.signal.reason).toBeInstanceOf(ReadTooSlowError)
    expect(a[0]!.signal.reason).toEqual(yieldedReason)
    expect([...a.slice(1), ...c].every((r) => !r!.signal.aborted)).toBe(true)
    expect(admission.activeReads).toBe(6)
    expect(admission.yields).toBe(1)
    // The yielded read's own release, when its exchange ends, frees nothing more.
    a[0]!.release()
    expect(admission.activeReads).toBe(6)
    for (const r of [...a, ...c, newcomer]) r.release()
    expect(admission.activeReads).toBe(0)
  })

  it('judges a read by its own rate: a transfer that stalled yields before a fresh fast one', () => {
    const admission = new ReadAdmission({ ...limits, maxConcurrentReads: 2 }, now)
    const [stalled, fresh] = [admission.admit(open(), 'a'), admission.admit(open(), 'a')]
    waited(stalled!, 1_000, 100 * MiB)
    stalled!.beginWait()
    clock += 600_000
    waited(fresh!, 105, MiB)
    fresh!.beginWait()
    clock += 1
    admission.admit(open(), 'b').release()
    expect(stalled!.signal.reason).toEqual(yieldedReason)
    expect(fresh!.signal.aborted).toBe(false)
    for (const r of [stalled!, fresh!]) r.release()
  })

  it('forgets in time: an address that stalled, then went quiet for an hour, gets a fresh hearing', () => {
    const admission = new ReadAdmission({ ...limits, maxConcurrentReads: 2 }, now)
    const before = [admission.admit(open(), 'a'), admission.admit(open(), 'a')]
    waited(before[0]!, 59_000, 0)
    for (const r of before) r.release()
    clock += 3_600_000
    const back = [admission.admit(open(), 'a'), admission.admit(open(), 'a')]
    waited(back[0]!, 10, 4 * MiB)
    back[0]!.beginWait()
    clock += 1
    // Without aging, 59 s of waiting for 4 MiB would make 'a' yield at once.
    expect(() => admission.admit(open(), 'b')).toThrow(busy)
    for (const r of back) r.release()
  })

  it('stops counting an exchange that ended: its cleanup is not waiting, and it cannot be chosen', () => {
    const admission = new ReadAdmission({ ...limits, maxConcurrentReads: 2 }, now)
    const ending = new AbortController()
    const gone = admission.admit(ending.signal, 'a')
    const other = admission.admit(open(), 'a')
    waited(other, 1, 0)
    gone.beginWait()
    clock += 20_000
    ending.abort(new Error('the client reset the stream')) // released later, once cleaned up
    clock += 60_000
    expect(() => admission.admit(open(), 'b')).toThrow(busy)
    expect(admission.yields).toBe(0)
    for (const r of [gone, other]) r.release()
  })

  it('judges an address, not an exchange: reopening its reads does not restart its hearing', () => {
    const admission = new ReadAdmission(limits, now)
    let held = [0, 1, 2, 3].map(() => admission.admit(open(), 'a'))
    // Each read waits 1 s and is replaced, never reaching a hearing of its own; the address's
    // reads together keep the node waiting 4 s a round.
    for (let round = 0; round < 2; round++) {
      for (const r of held) r.beginWait()
      clock += 1_000
      for (const r of held) r.release()
      held = [0, 1, 2, 3].map(() => admission.admit(open(), 'a'))
    }
    for (const r of held) r.beginWait()
    clock += 499 // 8 s + 4 x 499 ms: short of 10 s
    expect(() => admission.admit(open(), 'b')).toThrow(busy)
    clock += 1 // 10 s in all
    const newcomer = admission.admit(open(), 'b')
    expect(held[0]!.signal.reason).toEqual(yieldedReason)
    for (const r of [...held, newcomer]) r.release()
  })

  it('spares an address that keeps up 1 MiB per second of waiting, and one the node is not waiting on', () => {
    const admission = new ReadAdmission(limits, now)
    const held = [0, 1, 2, 3].map(() => admission.admit(open(), 'a'))
    for (const r of held) waited(r, 5_000, 5 * YIELD_RATE) // exactly the yield rate: kept up
    for (const r of held) r.beginWait()
    expect(() => admission.admit(open(), 'b')).toThrow(busy)
    // A byte short over the next wait makes it yield, but only a read the node is waiting on.
    for (const r of held) r.endWait(0)
    clock += 1
    waited(held[0]!, 1, 0)
    expect(() => admission.admit(open(), 'b')).toThrow(busy)
    held[2]!.beginWait()
    expect(admission.admit(open(), 'b').signal.aborted).toBe(false)
    expect(held[2]!.signal.reason).toEqual(yieldedReason)
    for (const r of held) r.release()
    expect(admission.activeReads).toBe(1)
  })

  it('lets a fast start fade: a client cannot bank bytes against a slow hour', () => {
    const admission = new ReadAdmission(limits, now)
    const held = [0, 1, 2, 3].map(() => admission.admit(open(), 'a'))
    waited(held[0]!, 1_000, 200 * MiB)
    // 60 s of waiting in all with 200 MiB: 3.3 MiB/s, spared.
    for (let s = 1; s < 60; s += 10) waited(held[1]!, Math.min(10_000, 60_000 - s * 1_000), 0)
    held[1]!.beginWait()
    expect(() => admission.admit(open(), 'b')).toThrow(busy)
    held[1]!.endWait(0)
    // 60 s more of waiting: without the history's halving 200 MiB over 120 s would be 1.67 MiB/s;
    // with it the history keeps 50 MiB over 52.5 s, under 1 MiB/s.
    for (let i = 0; i < 6; i++) waited(held[1]!, 10_000, 0)
    held[1]!.beginWait()
    admission.admit(open(), 'b').release()
    expect(held[1]!.signal.reason).toEqual(yieldedReason)
    for (const r of held) r.release()
  })

  it('moves a slot only when shares grow more even: 2 against 1 stays, 3 against 1 gives one', () => {
    const admission = new ReadAdmission({ ...limits, maxConcurrentReads: 3 }, now)
    const a = [admission.admit(open(), 'a'), admission.admit(open(), 'a')]
    const b = admission.admit(open(), 'b')
    for (const r of [...a, b]) waited(r, 60_000, 0)
    for (const r of [...a, b]) r.beginWait()
    expect(() => admission.admit(open(), 'b')).toThrow(busy)
    // A third address holds nothing: 'a' holds two more than it.
    const c = admission.admit(open(), 'c')
    expect(a[0]!.signal.reason).toEqual(yieldedReason)
    expect(b.signal.aborted).toBe(false)
    for (const r of [...a, b, c]) r.release()
  })

  it('gives an address its hearing for the grace instead, when the grace is shorter', () => {
    const admission = new ReadAdmission({ ...limits, maxConcurrentReads: 2, readMinDeadlineMs: 2_000 }, now)
    const held = [admission.admit(open(), 'a'), admission.admit(open(), 'a')]
    waited(held[0]!, 1_999, 0)
    held[0]!.beginWait()
    expect(() => admission.admit(open(), 'b')).toThrow(busy)
    clock += 1
    const newcomer = admission.admit(open(), 'b')
    expect(held[0]!.signal.reason).toEqual(yieldedReason)
    for (const r of [...held, newcomer]) r.release()
  })
})

describe('sharing write slots', () => {
  it('yields a write slot the same way, with WRITE_TOO_SLOW; a write whose content is all in never yields', () => {
    const admission = new WriteAdmission(
      {
        maxConcurrentWrites: 2,
        writeMinDeadlineMs: 3_600_000,
        writeMinBytesPerSecond: RATE,
        yieldAfterWaitMs: 10_000,
      },
      now,
    )
    const done = admission.admit(open(), 'a')
    const trickling = admission.admit(open(), 'a')
    waited(done, 10_000, 1024) // then END: the node waits on it no more
    trickling.beginWait()
    expect(() => admission.admit(open(), 'a')).toThrow(busy)
    const other = admission.admit(open(), 'b')
    expect(trickling.signal.reason).toBeInstanceOf(WriteTooSlowError)
    expect(String(trickling.signal.reason.message)).toContain('delivered 1024 bytes in 10000 ms')
    expect(done.signal.aborted).toBe(false)
    for (const w of [done, other, trickling]) w.release()
    expect(admission.activeWrites).toBe(0)
  })
})

/**
 * An independent model of the rule (docs/protocol.md 4.3), with plain arrays and bigint; its
 * constants are the documented ones, not the implementation's.
 */
const HISTORY_MS = 60_000

interface ModelExchange {
  id: number
  source: string
  since: number | undefined
  /** Waiting completed by this exchange, and the bytes it moved. */
  waited: number
  moved: number
}

interface ModelSource {
  waited: number
  moved: number
  /** The clock its history was last aged to. */
  agedTo: number
}

class Model {
  live: ModelExchange[] = []
  history = new Map<string, ModelSource>()
  joined(source: string, t: number): void {
    if (!this.history.has(source)) this.history.set(source, { waited: 0, moved: 0, agedTo: t })
  }
  /** Halved once per full HISTORY_MS of clock since it was last aged. */
  aged(source: string, t: number): ModelSource {
    const h = this.history.get(source)!
    while (t - h.agedTo >= HISTORY_MS) {
      h.agedTo += HISTORY_MS
      h.waited = Math.floor(h.waited / 2)
      h.moved = Math.floor(h.moved / 2)
    }
    return h
  }
  record(source: string, t: number, ms: number, bytes: number): void {
    const h = this.aged(source, t)
    h.waited += ms
    h.moved += bytes
    while (h.waited > HISTORY_MS) {
      h.waited = Math.floor(h.waited / 2)
      h.moved = Math.floor(h.moved / 2)
    }
  }
  victim(source: string, t: number): number | 'busy' {
    const count = (s: string) => this.live.filter((e) => e.source === s).length
    const candidates: Array<{ s: string; n: number; waited: bigint; moved: bigint }> = []
    for (const s of new Set(this.live.map((e) => e.source))) {
      if (count(s) < count(source) + 2) continue
      const h = this.aged(s, t)
      const mine = this.live.filter((e) => e.source === s)
      if (mine.every((e) => e.since === undefined)) continue
      const waited = BigInt(
        h.waited + mine.reduce((w, e) => w + (e.since === undefined ? 0 : t - e.since), 0),
      )
      if (waited < BigInt(limits.yieldAfterWaitMs)) continue
      if (BigInt(h.moved) * 1000n >= BigInt(YIELD_RATE) * waited) continue
      candidates.push({ s, n: mine.length, waited, moved: BigInt(h.moved) })
    }
    if (candidates.length === 0) return 'busy'
    // Most slots, then the slower (moved / waited, cross-multiplied), then the lower address.
    const rank = (x: (typeof candidates)[0], y: (typeof candidates)[0]) =>
      y.n - x.n || Number(x.moved * y.waited - y.moved * x.waited) || (x.s < y.s ? -1 : 1)
    candidates.sort(rank)
    // Within it: the slowest client by its own waiting, then the longest waiting now, then the
    // earliest admitted (a stable sort over admission order).
    const own = (e: ModelExchange) => BigInt(e.waited + (e.since === undefined ? 0 : t - e.since))
    const pick = this.live
      .filter((e) => e.source === candidates[0]!.s && e.since !== undefined)
      .sort((x, y) => Number(BigInt(x.moved) * own(y) - BigInt(y.moved) * own(x)) || x.since! - y.since!)
    return pick[0]!.id
  }
}

// Weighted so that runs fill the slots and wait long enough for the rule to act, not only refuse.
const op = fc.oneof(
  {
    arbitrary: fc.record({ kind: fc.constant('admit' as const), source: fc.constantFrom('a', 'b', 'c') }),
    weight: 4,
  },
  { arbitrary: fc.record({ kind: fc.constant('release' as const), pick: fc.nat() }), weight: 1 },
  { arbitrary: fc.record({ kind: fc.constant('begin' as const), pick: fc.nat() }), weight: 4 },
  {
    arbitrary: fc.record({
      kind: fc.constant('end' as const),
      pick: fc.nat(),
      bytes: fc.oneof(fc.constant(0), fc.nat({ max: 2 * YIELD_RATE }), fc.constant(0)),
    }),
    weight: 2,
  },
  { arbitrary: fc.record({ kind: fc.constant('tick' as const), ms: fc.nat({ max: 15_000 }) }), weight: 2 },
)

describe('yielding (property against a model)', () => {
  it('admits, refuses and evicts exactly as the model says, and never holds more than the cap', () => {
    let evictions = 0
    fc.assert(
      fc.property(fc.array(op, { minLength: 20, maxLength: 80, size: 'max' }), (ops) => {
        clock = 0
        const admission = new ReadAdmission(limits, now)
        const model = new Model()
        const reads = new Map<number, Admitted>()
        let next = 0
        for (const o of ops) {
          if (o.kind === 'tick') clock += o.ms
          else if (o.kind === 'admit') {
            const full = model.live.length >= limits.maxConcurrentReads
            const expected = full ? model.victim(o.source, clock) : undefined
            let read: Admitted
            try {
              read = admission.admit(open(), o.source)
            } catch (err) {
              expect(err).toEqual(busy)
              expect(expected).toBe('busy')
              continue
            }
            if (full) {
              const victim = model.live.find((e) => e.id === expected)!
              expect(victim).toBeDefined()
              expect(reads.get(victim.id)!.signal.reason).toEqual(yieldedReason)
              if (victim.since !== undefined) model.record(victim.source, clock, clock - victim.since, 0)
              model.live.splice(model.live.indexOf(victim), 1)
              evictions++
            }
            for (const e of model.live) expect(reads.get(e.id)!.signal.aborted).toBe(false)
            model.joined(o.source, clock)
            model.live.push({ id: next, source: o.source, since: undefined, waited: 0, moved: 0 })
            reads.set(next++, read)
          } else if (model.live.length > 0) {
            const e = model.live[o.pick % model.live.length]!
            const read = reads.get(e.id)!
            if (o.kind === 'release') {
              read.release()
              if (e.since !== undefined) model.record(e.source, clock, clock - e.since, 0)
              model.live.splice(model.live.indexOf(e), 1)
            } else if (o.kind === 'begin') {
              read.beginWait()
              e.since ??= clock
            } else {
              read.endWait(o.bytes)
              if (e.since !== undefined) {
                model.record(e.source, clock, clock - e.since, o.bytes)
                e.waited += clock - e.since
                e.since = undefined
                e.moved += o.bytes
              }
            }
          }
          expect(admission.activeReads).toBe(model.live.length)
          expect(admission.activeReads).toBeLessThanOrEqual(limits.maxConcurrentReads)
        }
        for (const read of reads.values()) read.release()
        expect(admission.activeReads).toBe(0)
      }),
      { seed: 0x5ba4e, numRuns: 400 },
    )
    // The runs reach the rule, not only its refusals.
    expect(evictions).toBeGreaterThan(50)
  })
})
