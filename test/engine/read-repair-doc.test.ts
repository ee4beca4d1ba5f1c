import { describe, expect, it } from 'vitest'
import { NodeUnavailableError } from '../../src/engine/errors.js'
import {
  engineOn,
  eventually,
  expectOk,
  findObject,
  type Harness,
  networkPerTest,
  wrapAll,
} from './consistency-claims-helpers.js'
import { bytesOf, meta } from './suite.js'

/**
 * docs/consistency.md "What a reader sees": read repair catches up a home that missed a record,
 * "also one whose answer to that read failed: it is asked for its latest, and left alone if current".
 * catalogue.test.ts pins the catching up of such a home that missed the version; this pins the
 * other half, a current home left alone.
 */

let h: Harness
const undo: Array<() => void> = []
networkPerTest((net) => {
  h = net
}, undo)

describe('read repair of a home whose answer failed', () => {
  it('asks it for its latest and, as it is current, pushes it nothing', async () => {
    const p = findObject(h.nodeIds, 'repair-current', () => true)
    const writer = h.engine(h.nodeIds[0]!)
    expectOk(await writer.putContent(p.oid, 1, bytesOf('repair-current-1', 3000), meta(1)))
    expectOk(await writer.putContent(p.oid, 2, bytesOf('repair-current-2', 3000), meta(2)))
    const failing = p.homes[2]!
    let failed = false
    const askedLatest: string[] = []
    const pushed: string[] = []
    undo.push(
      wrapAll(h.net.transport, 'getRecord', async (original, node, oid, version, ...rest) => {
        if (oid === p.oid && version === 'latest') askedLatest.push(node)
        if (node === failing && oid === p.oid && version === 1 && !failed) {
          failed = true
          throw new NodeUnavailableError('transient')
        }
        return original(node, oid, version, ...rest)
      }),
      wrapAll(h.net.transport, 'commitVersion', async (original, node, ...rest) => {
        pushed.push(node)
        return original(node, ...rest)
      }),
    )
    // An engine keeping no decided records: its read asks the homes.
    const reader = engineOn(h, h.nodeIds.find((n) => !p.homes.includes(n))!)
    expect(await reader.getContent(p.oid, 1)).toMatchObject({ ok: true, version: 1 })
    expect(failed).toBe(true)
    await eventually(() => askedLatest.includes(failing))
    // Time for a push, had one been sent: the catch-up asks once, then pushes at once.
    await new Promise((resolve) => setTimeout(resolve, 200))
    expect(pushed).toEqual([])
  })
})
