import { describe, expect, it } from 'vitest'
import { DeterministicTime } from '../../src/core/time.js'
import { majority } from '../../src/engine/context.js'
import { DecidedRecords } from '../../src/engine/decided-records.js'
import { StorageEngine } from '../../src/engine/engine.js'
import { EngineCalls } from '../../src/engine/engine-calls.js'
import { ObjectNotFoundError } from '../../src/engine/errors.js'
import type { EventFields } from '../../src/log/index.js'

/** What every public call of the engine shares (engine-calls.ts): its epoch, its tick and its one event. */

interface Appended {
  fields: EventFields
  durable: boolean | undefined
}

/** EngineCalls over two epochs (2 current, starting at tick 500) and a log that keeps what it is given. */
function calls() {
  const views = new Map([
    [1, { epoch: 1, startTick: 100 }],
    [2, { epoch: 2, startTick: 500 }],
  ])
  const membership = { current: () => views.get(2)!, at: (e: number) => views.get(e) }
  const appended: Appended[] = []
  const log = {
    append: async (fields: EventFields, _signatures: unknown, options?: { durable?: boolean }) => {
      appended.push({ fields, durable: options?.durable })
      return { event_id: 'e'.repeat(64) }
    },
  }
  const time = new DeterministicTime()
  const ctx = { nodeId: 'n1', transport: {}, timeouts: { requestMs: 1, streamIdleMs: 1 } }
  return {
    engine: new EngineCalls(ctx as never, membership as never, log as never, time, new DecidedRecords()),
    appended,
    time,
  }
}

describe('EngineCalls', () => {
  it('places a call in the epoch it names, and moves the node clock to that epoch’s start', () => {
    const { engine, time } = calls()
    expect(engine.view(1).epoch).toBe(1)
    expect(time.now()).toBe(100)
    expect(engine.view(undefined).epoch).toBe(2)
    expect(time.now()).toBe(500)
    expect(() => engine.view(3)).toThrow(expect.objectContaining({ code: 'AEGIS_CONTEXT_MISSING' }))
  })

  it('takes any tick a request states, 0 included, and refuses what is no tick', () => {
    const { engine } = calls()
    expect(engine.tick(0)).toBe(0)
    expect(engine.tick(Number.MAX_SAFE_INTEGER)).toBe(Number.MAX_SAFE_INTEGER)
    for (const bad of [-1, 1.5, Number.MAX_SAFE_INTEGER + 1, Number.NaN]) {
      expect(() => engine.tick(bad)).toThrow(expect.objectContaining({ code: 'INVALID_INPUT' }))
    }
  })

  it('logs the epoch a call was placed in, not the current one, and asks for durability only when told', async () => {
    const { engine, appended, time } = calls()
    engine.view(undefined)
    await engine.record({ event_type: 'GET_PROOF', epoch: 1 })
    await engine.record({ event_type: 'STORE' }, true)
    expect(appended.map((a) => [a.fields.event_type, a.fields.epoch, a.durable])).toEqual([
      ['GET_PROOF', 1, false],
      ['STORE', 2, true],
    ])
    expect(appended[0]!.fields.timestamp_tick).toBe(time.now())
  })

  it('logs a failed call with its class, a safe detail and its fine code beside the details it had', async () => {
    const { engine, appended } = calls()
    const id = await engine.recordFailure(
      { event_type: 'READ', details: { asked: 'latest' } },
      new ObjectNotFoundError('object 00 has no version'),
    )
    expect(id).toBe('e'.repeat(64))
    expect(appended[0]!.fields).toMatchObject({
      event_type: 'READ',
      error_code: 'SE_ERR_NOT_FOUND',
      error_detail: 'object 00 has no version',
      details: { asked: 'latest', code: 'NOT_FOUND' },
    })
  })
})

describe('StorageEngine construction', () => {
  it('takes a preopenBytes of 0 and refuses one that is negative or no integer', () => {
    const { engine } = calls()
    const components = {
      nodeId: 'n1',
      transport: engine.ctx.transport,
      membership: engine.membership,
      log: {} as never,
      time: new DeterministicTime(),
    }
    expect(() => new StorageEngine(components, { preopenBytes: 0 })).not.toThrow()
    for (const bad of [-1, 1.5]) {
      expect(() => new StorageEngine(components, { preopenBytes: bad })).toThrow(TypeError)
    }
  })
})

describe('majority', () => {
  it('is the fewest nodes more than half of n, so that two majorities always share a node', () => {
    for (let n = 1; n <= 9; n++) {
      const q = majority(n)
      expect(2 * q).toBeGreaterThan(n)
      expect(2 * (q - 1)).toBeLessThanOrEqual(n)
    }
  })
})
