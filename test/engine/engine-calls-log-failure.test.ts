import { describe, expect, it } from 'vitest'
import { DeterministicTime } from '../../src/core/time.js'
import { DecidedRecords } from '../../src/engine/decided-records.js'
import { EngineCalls } from '../../src/engine/engine-calls.js'
import { ObjectNotFoundError } from '../../src/engine/errors.js'
import type { EventFields } from '../../src/log/index.js'

/**
 * A failed call whose failure cannot be logged either (the disk is full, the log closed) still
 * answers: its `storage_event_id` is null, the answer is never replaced by a throw (engine-calls.ts
 * `recordFailure`), and a request's own tick is what its event records.
 */
function callsWith(append: (fields: EventFields) => Promise<{ event_id: string }>) {
  const view = { epoch: 3, startTick: 40 }
  const membership = { current: () => view, at: (e: number) => (e === 3 ? view : undefined) }
  const ctx = { nodeId: 'n1', transport: {}, timeouts: { requestMs: 1, streamIdleMs: 1 } }
  return new EngineCalls(
    ctx as never,
    membership as never,
    { append } as never,
    new DeterministicTime(),
    new DecidedRecords(),
  )
}

describe('EngineCalls.recordFailure when the log refuses', () => {
  it('answers null instead of throwing the log failure', async () => {
    const calls = callsWith(async () => {
      throw new Error('ENOSPC: no room for the log')
    })
    await expect(
      calls.recordFailure({ event_type: 'READ' }, new ObjectNotFoundError('none')),
    ).resolves.toBeNull()
    // A success's event is not hidden the same way: its failure to log reaches the caller.
    await expect(calls.record({ event_type: 'READ' })).rejects.toThrow('ENOSPC')
  })
})

describe('EngineCalls.record', () => {
  it("records the request's own tick when it states one, and the node clock otherwise", async () => {
    const logged: EventFields[] = []
    const calls = callsWith(async (fields) => {
      logged.push(fields)
      return { event_id: 'e'.repeat(64) }
    })
    calls.view(undefined)
    await calls.record({ event_type: 'STORE', timestamp_tick: 7 })
    await calls.record({ event_type: 'READ' })
    expect(logged.map((f) => f.timestamp_tick)).toEqual([7, 40])
  })
})
