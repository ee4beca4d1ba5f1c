import { describe, expect, it } from 'vitest'
import { NodeUnavailableError } from '../../src/engine/errors.js'
import { engineOn, findObject, type Harness, networkPerTest, wrapAll } from './consistency-claims-helpers.js'
import { bytesOf, meta } from './suite.js'

/**
 * A write that fails after staging takes its staged shards back (write.ts `abortAll`) before it
 * answers. A holder frozen at that moment (SIGSTOPped) must cost that exchange its request deadline,
 * as every other exchange of the write does, not hold the write's answer for as long as the peer
 * stays frozen (found by the chaos test, chaos-consistency.test.ts: the abort went out with no
 * deadline, and only the libp2p transport's own timeout bounded it).
 */

let h: Harness
const undo: Array<() => void> = []
networkPerTest((net) => {
  h = net
}, undo)

const REQUEST_MS = 200

/** A peer that never answers: the exchange ends only when its caller's signal aborts. */
function never(signal: AbortSignal | undefined, node: string): Promise<never> {
  return new Promise((_, reject) => {
    signal?.addEventListener('abort', () => reject(new NodeUnavailableError(`${node} did not answer`)), {
      once: true,
    })
  })
}

describe('taking back staged shards of a failed write', () => {
  it('waits for a frozen holder no longer than the request deadline', async () => {
    const p = findObject(h.nodeIds, 'abort-deadline', () => true)
    const coordinator = h.nodeIds.find((n) => !p.homes.includes(n))!
    // The homes are unreachable for the decide (the write fails after staging), and every holder
    // freezes for the abort that follows.
    undo.push(
      wrapAll(h.net.transport, 'commitVersion', (original, node, ...rest) =>
        p.homes.includes(node)
          ? Promise.reject(new NodeUnavailableError(`${node} is unreachable`))
          : original(node, ...rest),
      ),
      wrapAll(h.net.transport, 'abortStaging', (_original, node, ...rest) =>
        never((rest[1] as { signal?: AbortSignal } | undefined)?.signal, node),
      ),
    )
    const engine = engineOn(h, coordinator, { timeouts: { requestMs: REQUEST_MS, streamIdleMs: REQUEST_MS } })
    const started = performance.now()
    const bound = new Promise<'unsettled'>((r) => setTimeout(() => r('unsettled'), 10 * REQUEST_MS).unref())
    const answer = await Promise.race([
      engine.putContent(p.oid, 1, bytesOf('abort-deadline', 3000), meta(1)),
      bound,
    ])
    expect(answer).toMatchObject({ ok: false, code: 'QUORUM_NOT_REACHED' })
    expect(performance.now() - started).toBeLessThan(3 * REQUEST_MS)
  })
})
