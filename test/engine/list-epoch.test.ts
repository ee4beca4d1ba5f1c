import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DeterministicTime } from '../../src/core/time.js'
import { StorageEngine } from '../../src/engine/engine.js'
import type { EventFields } from '../../src/log/index.js'
import { StaticMembership } from '../../src/membership/static.js'
import type { Membership } from '../../src/membership/types.js'
import type { MiniNetwork } from '../../src/node/mini-network.js'
import { inProcessHarness } from './harness.js'

/**
 * A listing placed in an epoch the caller names is logged in that epoch, as a read or a write is
 * (engine-calls.ts): the event says which eligible list answered, not which one is current.
 */
describe('listObjects in a named epoch', () => {
  let net: MiniNetwork
  beforeAll(async () => {
    net = (await inProcessHarness(3)).net
  })
  afterAll(async () => {
    await net?.close()
  })

  it('logs the epoch it was placed in, and the current one when it names none', async () => {
    const nodes = ['node-1', 'node-2', 'node-3']
    const views = new Map([1, 2].map((e) => [e, new StaticMembership({ nodes, epoch: e }).current()]))
    const membership = {
      current: () => views.get(2)!,
      at: (e: number) => views.get(e),
    } as unknown as Membership
    const logged: EventFields[] = []
    const log = {
      append: async (fields: EventFields) => {
        logged.push(fields)
        return { event_id: 'e'.repeat(64) }
      },
    }
    const engine = new StorageEngine({
      nodeId: 'node-1',
      transport: net.transport,
      membership,
      log: log as never,
      time: new DeterministicTime(),
    })
    expect(await engine.listObjects({}, { epoch: 1 })).toMatchObject({ ok: true, objects: [] })
    expect(await engine.listObjects({})).toMatchObject({ ok: true, objects: [] })
    expect(logged.map((f) => [f.event_type, f.epoch])).toEqual([
      ['LIST_OBJECTS', 1],
      ['LIST_OBJECTS', 2],
    ])
  })
})
