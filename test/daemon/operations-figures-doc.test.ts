import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { REPEAT_ECHO_MS } from '../../src/cli/commands/start.js'
import { DEFAULT_RETRY_DELAYS_MS } from '../../src/daemon/snapshot-backfill.js'
import { MAX_EVENT_BYTES } from '../../src/log/event.js'
import { MAX_CLIENT_CONNECTIONS } from '../../src/net/libp2p-node.js'
import { MAX_SNAPSHOT_ANSWER_BYTES } from '../../src/net/rpc-messages.js'
import { CONNECTIONS_PER_MEMBER, MEMBER_PENDING_ROOM } from '../../src/net/source-connections.js'
import { MAX_LIST_ANSWER_BYTES, MAX_LIST_SCAN_ENTRIES } from '../../src/store/listing.js'
import { STREAM_ADMIT_BYTES } from '../../src/store/space.js'

/**
 * The fixed figures docs/operations.md and docs/audit-log.md state (the ones no setting changes),
 * read from their text and compared with the code's constants. The behaviour tests use these
 * constants by name (listing-budget, space, inbound-limits, rpc-snapshot, start-signals,
 * snapshot-backfill, event-bounds), so a constant changed would leave the doc wrong with every test
 * passing.
 */

const text = (name: string) =>
  readFileSync(new URL(`../../docs/${name}`, import.meta.url), 'utf8').replace(/\s+/g, ' ')
const ops = text('operations.md')
const auditLog = text('audit-log.md')

/** The number in `pattern`'s first group (`10 000` and `1,047,552` read as integers). */
function stated(doc: string, pattern: RegExp): number {
  const m = pattern.exec(doc)
  if (m === null) throw new Error(`the doc no longer says ${pattern}`)
  return Number(m[1]!.replace(/[ ,]/g, ''))
}

const MiB = 1024 * 1024

describe('docs/operations.md fixed figures', () => {
  it('a node examines at most 10 000 catalogue entries per list_objects request', () => {
    expect(MAX_LIST_SCAN_ENTRIES).toBe(stated(ops, /examines at most ([\d ]+) catalogue entries per/))
  })

  it('a listing holds up to 4 MiB of records', () => {
    expect(MAX_LIST_ANSWER_BYTES).toBe(stated(ops, /Each holds up to (\d+) MiB of records/) * MiB)
  })

  it('a shard stream takes room 4 MiB at a time (STREAM_ADMIT_BYTES)', () => {
    expect(STREAM_ADMIT_BYTES).toBe(
      stated(ops, /only (\d+) MiB at a time, ahead of its bytes \(`STREAM_ADMIT_BYTES`\)/) * MiB,
    )
  })

  it('the inbound limits for the snapshot members and for clients', () => {
    expect(MEMBER_PENDING_ROOM).toBe(stated(ops, /likewise (\d+) upgrade slots beyond/))
    expect(CONNECTIONS_PER_MEMBER).toBe(stated(ops, /at most (\d+) for each node at an address/))
    expect(CONNECTIONS_PER_MEMBER).toBe(stated(ops, /a node holds at most (\d+) inbound from one member/))
    expect(MAX_CLIENT_CONNECTIONS).toBe(stated(ops, /takes one of (\d+) client connections per node/))
  })

  it('a node serves a snapshot of up to 1,047,552 bytes of JSON', () => {
    expect(MAX_SNAPSHOT_ANSWER_BYTES).toBe(stated(ops, /up to a snapshot of ([\d,]+) bytes of JSON/))
  })

  it('the backfill asks silent peers again after 1, 2, 4 and 8 s', () => {
    const [, list] = /are asked again after ([\d, and]+) s/.exec(ops)!
    const seconds = list!.split(/, | and /).map(Number)
    expect(DEFAULT_RETRY_DELAYS_MS).toEqual(seconds.map((s) => s * 1000))
  })

  it('a repeat of the first stop signal within 0.5 s is ignored', () => {
    expect(REPEAT_ECHO_MS).toBe(stated(ops, /a repeat of the first signal within ([\d.]+) s/) * 1000)
  })
})

describe('docs/audit-log.md fixed figures', () => {
  it('an entry is at most 64 KiB', () => {
    expect(MAX_EVENT_BYTES).toBe(stated(auditLog, /An entry is at most (\d+) KiB/) * 1024)
  })
})
