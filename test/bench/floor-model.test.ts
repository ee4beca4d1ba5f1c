import { readFile } from 'node:fs/promises'
import { describe, expect, it } from 'vitest'
import { floorModel } from '../../src/bench/floor-model.js'
import { round } from '../../src/bench/proc.js'

describe('floorModel', () => {
  it('counts 3.4 hops and 5.4 hashes per written byte for R = 3 of N = 5, 2 hops and 3 hashes per read', () => {
    // One cost per term, each a power of ten, so every count reads off the sum.
    const f = floorModel({ transport: 100, sha3: 10, leveldb: 1 }, 3, 5)
    expect(f.write_hops).toBeCloseTo(3.4, 12)
    expect(f.write_hashes).toBeCloseTo(5.4, 12)
    expect(f.write).toBeCloseTo(340 + 54 + 3, 9)
    expect(f.read).toBe(230)
  })

  it('has the coordinator push to every replica when it can never be one, and to none when it always is', () => {
    const far = floorModel({ transport: 1, sha3: 0, leveldb: 0 }, 3, Number.POSITIVE_INFINITY)
    expect(far.write_hops).toBe(4)
    const all = floorModel({ transport: 0, sha3: 1, leveldb: 1 }, 3, 3)
    expect([all.write_hops, all.write_hashes, all.write]).toEqual([3, 5, 8])
  })

  it('gives the committed floor.json its floors again from its measured costs', async () => {
    const report = JSON.parse(await readFile('evidence/bench/floor.json', 'utf8'))
    const f = floorModel(
      {
        transport: report.transport.cpu_ms_per_mib,
        sha3: report.sha3_256.cpu_ms_per_mib,
        leveldb: report.leveldb_put.cpu_ms_per_mib,
      },
      3,
      5,
    )
    expect({ write: round(f.write, 1), read: round(f.read, 1) }).toEqual(report.floors_cpu_ms_per_mib)
    expect(report.method.write_floor).toMatch(
      new RegExp(`^${f.write_hops} hops x transport \\+ ${f.write_hashes} SHA3`),
    )
  })
})
