import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import type { VersionRecord } from '../../src/core/record.js'
import { PROBE_TIMEOUT_MS } from '../../src/daemon/peer-prober.js'
import { UNDECIDED_STAGING_MAX_AGE_MS } from '../../src/daemon/staging-sweeper.js'
import { MAX_LATEST_STEPS_BACK } from '../../src/engine/catalogue.js'
import { CUT_AGAIN_MS } from '../../src/engine/context.js'
import { DecidedRecords } from '../../src/engine/decided-records.js'
import { RecentFailures } from '../../src/engine/peer-health.js'
import { WHOLE_STAGE_BYTES } from '../../src/engine/stage-whole.js'

/**
 * The figures docs/consistency.md states, read from its text and compared with the code: the
 * behaviour tests (decided-records, peer-health, cut-short, roll-forward, stage-whole,
 * write-next-version) use the code's constants by name, so a constant changed there would leave the
 * doc wrong with every test passing. Where a figure shows through a class's defaults, it is checked
 * through them.
 */

const doc = readFileSync(new URL('../../docs/consistency.md', import.meta.url), 'utf8').replace(/\s+/g, ' ')

/** The number the doc gives in `pattern`'s first group (`1,024` is 1024). */
function stated(pattern: RegExp): number {
  const m = pattern.exec(doc)
  if (m === null) throw new Error(`docs/consistency.md no longer says ${pattern}`)
  return Number(m[1]!.replaceAll(',', ''))
}

const KiB = 1024
const MiB = 1024 * KiB

/** A record-shaped value whose canonical JSON (keys in sorted order here) is exactly `bytes` long. */
function recordOf(version: number, bytes: number): VersionRecord {
  const bare = JSON.stringify({ object_id: 'o', pad: '', version })
  return { object_id: 'o', pad: 'x'.repeat(bytes - bare.length), version } as unknown as VersionRecord
}

describe('docs/consistency.md figures', () => {
  it('a node keeps at most 1,024 decided records by default', () => {
    const count = stated(/at most ([\d,]+) and \d+ MiB of canonical JSON/)
    const kept = new DecidedRecords()
    for (let v = 1; v <= count + 10; v++) kept.remember(1, recordOf(v, 100))
    expect(kept.size).toBe(count)
    // The least recently used went out: the first ten.
    expect(kept.has(1, 'o', 10)).toBe(false)
    expect(kept.has(1, 'o', 11)).toBe(true)
  })

  it('and at most 2 MiB of their canonical JSON', () => {
    const budget = stated(/at most [\d,]+ and (\d+) MiB of canonical JSON/) * MiB
    const kept = new DecidedRecords()
    const size = 60 * KiB
    for (let v = 1; v <= 40; v++) kept.remember(1, recordOf(v, size))
    expect(kept.keptBytes).toBe(Math.floor(budget / size) * size)
  })

  it('and none of a record over 64 KiB', () => {
    const largest = stated(/a record over (\d+) KiB is not kept/) * KiB
    const kept = new DecidedRecords()
    kept.remember(1, recordOf(1, largest))
    kept.remember(1, recordOf(2, largest + 1))
    expect([kept.has(1, 'o', 1), kept.has(1, 'o', 2)]).toEqual([true, false])
  })

  it('a peer that failed to answer is tried last for 30 s', () => {
    const ms = stated(/is tried last for (\d+) s/) * 1000
    let now = 0
    const health = new RecentFailures({ now: () => now })
    health.failed('peer', 'TIMEOUT')
    now = ms - 1
    expect(health.suspect('peer')).toBe(true)
    now = ms
    expect(health.suspect('peer')).toBe(false)
  })

  it('a peer the same write already cut off gets only 50 ms', () => {
    expect(CUT_AGAIN_MS).toBe(stated(/only (\d+) ms for a peer the same write already cut off/))
  })

  it('a probe that is not answered within 2 s makes the peer suspect', () => {
    expect(PROBE_TIMEOUT_MS).toBe(stated(/does not answer within (\d+) s is suspect/) * 1000)
  })

  it('an object of at most 256 KiB is staged whole', () => {
    expect(WHOLE_STAGE_BYTES).toBe(stated(/An object of at most (\d+) KiB is staged whole/) * KiB)
  })

  it('an undecided staged shard is kept at most a day', () => {
    expect(doc).toContain('for at most a day (`UNDECIDED_STAGING_MAX_AGE_MS`)')
    expect(UNDECIDED_STAGING_MAX_AGE_MS).toBe(24 * 60 * 60 * 1000)
  })

  it('a read of the latest steps back over at most 16 undecided versions', () => {
    expect(MAX_LATEST_STEPS_BACK).toBe(stated(/over at most (\d+) undecided ones, `MAX_LATEST_STEPS_BACK`/))
  })
})
