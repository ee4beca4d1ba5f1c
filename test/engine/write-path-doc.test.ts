import { describe, expect, it } from 'vitest'
import {
  eventually,
  expectOk,
  findObject,
  gate,
  type Harness,
  networkPerTest,
  stagedOn,
  wrapAll,
} from './consistency-claims-helpers.js'
import { bytesOf, meta } from './suite.js'

/**
 * docs/architecture.md "Write path", step 2: "For content of at most 4 MiB the preflight runs while
 * the shards stage (one round trip less) and a refusal takes the staged shards back; larger content
 * waits for it, so a write refused for a gap moves none of its bytes" (one of a version already held
 * stages first: see the last test). The preflight is the homes' record
 * lookups (`getRecord`); staging is `openShard` (a streamed shard) or `stageShards` (a small one).
 */

const MiB = 1024 * 1024

let h: Harness
const undo: Array<() => void> = []
networkPerTest((net) => {
  h = net
}, undo)

/** Counts the stage calls from now on, and holds every record lookup until `lookups.open()`. */
function watch(): { stages: () => number; lookups: ReturnType<typeof gate> } {
  let stages = 0
  const lookups = gate()
  undo.push(
    wrapAll(h.net.transport, 'openShard', (original, node, ...rest) => {
      stages++
      return original(node, ...rest)
    }),
    wrapAll(h.net.transport, 'stageShards', (original, node, ...rest) => {
      stages++
      return original(node, ...rest)
    }),
    wrapAll(h.net.transport, 'getRecord', async (original, node, ...rest) => {
      await lookups.opened
      return original(node, ...rest)
    }),
  )
  return { stages: () => stages, lookups }
}

describe('docs/architecture.md write path: the preflight and the stage', () => {
  it('stages content of exactly 4 MiB while the homes are still being asked', async () => {
    const p = findObject(h.nodeIds, 'arch-4mib', () => true)
    const { stages, lookups } = watch()
    const write = h.engine(h.nodeIds[0]!).putContent(p.oid, 1, bytesOf('arch-4mib', 4 * MiB), meta(1))
    await eventually(() => stages() > 0)
    lookups.open()
    expectOk(await write)
  })

  it('asks the homes before moving any byte of content over 4 MiB', async () => {
    const p = findObject(h.nodeIds, 'arch-over', () => true)
    const { stages, lookups } = watch()
    const write = h.engine(h.nodeIds[0]!).putContent(p.oid, 1, bytesOf('arch-over', 4 * MiB + 1), meta(1))
    // Long enough for the 4 MiB write above to have staged (it does within milliseconds).
    await new Promise((resolve) => setTimeout(resolve, 300))
    expect(stages()).toBe(0)
    lookups.open()
    expectOk(await write)
    expect(stages()).toBeGreaterThan(0)
  })

  it('moves none of the bytes of a write over 4 MiB that leaves a gap', async () => {
    const p = findObject(h.nodeIds, 'arch-gap', () => true)
    const writer = h.engine(h.nodeIds[0]!)
    expectOk(await writer.putContent(p.oid, 1, bytesOf('arch-gap-1', 1000), meta(1)))
    const { stages, lookups } = watch()
    lookups.open()
    const gap = await writer.putContent(p.oid, 3, bytesOf('arch-gap-3', 4 * MiB + 1), meta(3))
    expect(gap).toMatchObject({ ok: false, error_code: 'SE_ERR_INVALID_VERSION' })
    expect(stages()).toBe(0)
  })

  it('stages a write over 4 MiB of a version already held, and takes its shards back at the conflict', async () => {
    // Whether it is the same write again (idempotent) or another content is known only from its
    // record, whose hash_commit needs every byte: so its bytes move, and are taken back.
    const p = findObject(h.nodeIds, 'arch-conflict', () => true)
    const writer = h.engine(h.nodeIds[0]!)
    expectOk(await writer.putContent(p.oid, 1, bytesOf('arch-conflict-1', 1000), meta(1)))
    const { stages, lookups } = watch()
    lookups.open()
    const conflict = await writer.putContent(p.oid, 1, bytesOf('arch-conflict-2', 4 * MiB + 1), meta(1))
    expect(conflict).toMatchObject({ ok: false, code: 'VERSION_CONFLICT' })
    expect(stages()).toBeGreaterThan(0)
    for (const node of h.nodeIds) expect(await stagedOn(h, node)).toBe(0)
  })
})
