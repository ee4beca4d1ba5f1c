import { describe, expect, it } from 'vitest'
import { createLogger } from '../../src/daemon/logger.js'
import { logWriteHealth } from '../../src/daemon/open-local.js'
import { startStagingSweeper } from '../../src/daemon/staging-sweeper.js'
import type { StagedShardRef } from '../../src/store/index.js'

/**
 * The node's log lines docs/operations.md quotes, at the level it gives: operators grep for these
 * words and alert on these levels. The doc's quotes are the oracle.
 */

type Line = { level: string; msg: string } & Record<string, unknown>

function capture(): { log: ReturnType<typeof createLogger>; lines: Line[] } {
  const lines: Line[] = []
  return { log: createLogger('info', (line) => lines.push(JSON.parse(line) as Line)), lines }
}

const ref = (stagingId: string): StagedShardRef => ({
  stagingId,
  objectId: 'ab'.repeat(32),
  version: 1,
  shardId: 'cd'.repeat(32),
  length: 5,
  merkleRoot: 'ef'.repeat(32),
  createdMs: 0,
})

describe('docs/operations.md log lines', () => {
  it("the audit log's failure is one error line with LevelDB's reason, and its recovery an info line", () => {
    const { log, lines } = capture()
    const report = logWriteHealth(log)!
    report({ reason: 'IO error: No space left on device', seq: 7 })
    report(undefined)
    expect(lines).toHaveLength(2)
    // "/readyz ... the node's log has one error line, `the audit log cannot be written…` with LevelDB's `reason`"
    expect(lines[0]).toMatchObject({ level: 'error', reason: 'IO error: No space left on device' })
    expect(lines[0]!.msg.startsWith('the audit log cannot be written')).toBe(true)
    // "... until an append is written again, logged as `the audit log is written again`"
    expect(lines[1]!.level).toBe('info')
    expect(lines[1]!.msg.startsWith('the audit log is written again')).toBe(true)
  })

  it('the staging sweep warns of the shards it committed and says how many it removed', async () => {
    const { log, lines } = capture()
    const sweeper = startStagingSweeper({
      store: {
        staleStaged: async () => [ref('needed'), ref('unneeded')],
        sweepStaging: async () => ({ removed: 1 }),
      },
      rollForward: async () => ({ committed: ['needed'], unneeded: ['unneeded'], undecided: [] }),
      intervalMs: 60_000,
      olderThanMs: 1,
      log,
    })
    await sweeper.sweepNow()
    await sweeper.stop()
    // "logged as a warning, `staging sweep committed staged shards a decided version needed`"
    const committed = lines.find((l) =>
      l.msg.startsWith('staging sweep committed staged shards a decided version needed'),
    )
    expect(committed?.level).toBe('warn')
    // "logs how many it removed (`staging sweep removed abandoned staged shards`)"
    expect(lines.find((l) => l.msg === 'staging sweep removed abandoned staged shards')).toMatchObject({
      level: 'info',
      removed: 1,
    })
  })

  it('the staging sweep logs a failure as a warning', async () => {
    const { log, lines } = capture()
    const sweeper = startStagingSweeper({
      store: {
        staleStaged: async () => [],
        sweepStaging: async () => {
          throw new Error('disk gone')
        },
      },
      intervalMs: 60_000,
      olderThanMs: 1,
      log,
    })
    expect(await sweeper.sweepNow()).toBe(0)
    await sweeper.stop()
    expect(lines.map((l) => l.level)).toEqual(['warn'])
  })
})
