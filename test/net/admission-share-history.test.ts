import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import type { Admitted } from '../../src/net/admission.js'
import { ProofAdmission } from '../../src/net/proof-admission.js'
import { ReadAdmission } from '../../src/net/read-admission.js'
import { IDLE_SOURCES_KEPT } from '../../src/net/slot-share.js'

/**
 * Fair share of public slots under contention (docs/protocol.md 4.3), continued from
 * admission-share.test.ts: what an address's history keeps, and what an exchange that already
 * ended counts for.
 */

const limits = {
  maxConcurrentReads: 2,
  readMinDeadlineMs: 3_600_000,
  readMinBytesPerSecond: 65_536,
  yieldAfterWaitMs: 10_000,
}

let clock = 0
const now = () => clock
const open = () => new AbortController().signal
const busy = expect.objectContaining({ code: 'NODE_BUSY' })
const MiB = 1024 * 1024

/** The node waits `ms` on `read`'s client, which then takes `bytes`. */
function waited(read: Admitted, ms: number, bytes: number): void {
  read.beginWait()
  clock += ms
  read.endWait(bytes)
}

beforeEach(() => {
  clock = 0
  vi.useFakeTimers()
})
afterEach(() => {
  expect(vi.getTimerCount()).toBe(0)
  vi.useRealTimers()
})

describe('an exchange that ended before its slot is released', () => {
  it('starts no wait once ended: its cleanup never makes its address yield', () => {
    const admission = new ReadAdmission(limits, now)
    const ending = new AbortController()
    const gone = admission.admit(ending.signal, 'a')
    const other = admission.admit(open(), 'a')
    ending.abort(new Error('the client reset the stream'))
    // The handler's cleanup still goes through a send it times: no wait begins, no timer runs.
    gone.beginWait()
    expect(vi.getTimerCount()).toBe(0)
    clock += 60_000
    expect(() => admission.admit(open(), 'b')).toThrow(busy)
    expect(admission.yields).toBe(0)
    for (const r of [gone, other]) r.release()
  })
})

describe("an address's history", () => {
  it('keeps at most a minute of waiting: an address that stalled is judged again by what it does now', () => {
    const admission = new ReadAdmission({ ...limits, maxConcurrentReads: 4 }, now)
    const held = [0, 1, 2, 3].map(() => admission.admit(open(), 'a'))
    // Four reads stalled together for 50 s: 200 s of waiting, kept as the last 50 s (bytes halved alike).
    for (const r of held) r.beginWait()
    clock += 50_000
    for (const r of held) r.endWait(0)
    // Then 60 MiB in a moment: 60 MiB over 50 s is above 1 MiB/s (over 200 s it would not be).
    held[0]!.beginWait()
    clock += 1
    held[0]!.endWait(60 * MiB)
    held[1]!.beginWait()
    clock += 1
    expect(() => admission.admit(open(), 'b')).toThrow(busy)
    expect(admission.yields).toBe(0)
    for (const r of held) r.release()
  })

  it('is aged when judged, not only when a wait ends: stalls ten minutes old no longer count', () => {
    const admission = new ReadAdmission(limits, now)
    const held = [admission.admit(open(), 'a'), admission.admit(open(), 'a')]
    for (const r of held) r.beginWait()
    clock += 30_000
    for (const r of held) r.endWait(0)
    // Ten minutes busy with its replicas, no wait on the client ending: then a wait begins.
    clock += 600_000
    held[0]!.beginWait()
    clock += 1
    expect(() => admission.admit(open(), 'b')).toThrow(busy)
    expect(admission.yields).toBe(0)
    for (const r of held) r.release()
  })
  it('halves on the minute of its clock, wherever in a minute it was last brought up to date', () => {
    const admission = new ReadAdmission(limits, now)
    const held = [admission.admit(open(), 'a'), admission.admit(open(), 'a')]
    for (const r of held) r.beginWait()
    clock += 15_000
    for (const r of held) r.endWait(0) // 30 s of waiting, as of 0 s
    clock = 119_000
    waited(held[1]!, 0, 0) // halved once, to 15 s, as of 60 s
    clock = 120_000
    held[0]!.beginWait()
    clock += 1
    // 60 s after the last halving: 7.5 s, short of the 10 s hearing.
    expect(() => admission.admit(open(), 'b')).toThrow(busy)
    expect(admission.yields).toBe(0)
    for (const r of held) r.release()
  })
})

describe('the histories kept', () => {
  it('lets go of idle addresses only, never of one holding slots, however many come and go', () => {
    const admission = new ProofAdmission({ ...limits, maxConcurrentProofs: 4 }, now)
    // An address holds its share: 2 of the 4 proof slots.
    const held = [admission.admit(open(), 'a'), admission.admit(open(), 'a')]
    // More addresses than IDLE_SOURCES_KEPT each take a proof and end it.
    for (let i = 0; i <= IDLE_SOURCES_KEPT; i++) admission.admit(open(), `client ${i}`).release()
    expect(() => admission.admit(open(), 'a')).toThrow(busy)
    for (const r of held) r.release()
  })

  it('lets go of the histories emptied longest ago first: an address that just left is still known', () => {
    const admission = new ReadAdmission({ ...limits, maxConcurrentReads: 4 }, now)
    // The first address seen stalls two reads for 30 s, while every other address comes and goes.
    const stalled = [admission.admit(open(), 'a'), admission.admit(open(), 'a')]
    for (const r of stalled) r.beginWait()
    clock += 30_000
    for (const r of stalled) r.endWait(0)
    for (let i = 0; i < IDLE_SOURCES_KEPT - 1; i++) admission.admit(open(), `client ${i}`).release()
    for (const r of stalled) r.release()
    // One address more than kept: the one emptied longest ago goes, not the last one to leave.
    admission.admit(open(), 'z').release()
    const back = [admission.admit(open(), 'a'), admission.admit(open(), 'a')]
    const others = [admission.admit(open(), 'c'), admission.admit(open(), 'c')]
    back[0]!.beginWait()
    clock += 1
    const newcomer = admission.admit(open(), 'b')
    expect(admission.yields).toBe(1)
    expect(back[0]!.signal.aborted).toBe(true)
    for (const r of [...back, ...others, newcomer]) r.release()
  })
})
