/**
 * docs/audit-log.md's tables and the code agree: the StorageEvent keys, the event types, the
 * `details` each kind of entry carries, the `log verify` verdict's fields and its codes. The doc's
 * text is the oracle; what is compared with it is what the node writes and what the command prints.
 */
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { toHex } from '../../src/core/bytes.js'
import { objectId } from '../../src/core/ids.js'
import { EVENT_TYPES, type StorageEvent } from '../../src/log/event.js'
import { NODES, networkWithHistory, removeNetworks } from '../cli/node-dirs.js'
import { runCli } from '../cli/run.js'
import { inProcessHarness } from '../engine/harness.js'
import { bytesOf, meta } from '../engine/suite.js'

const doc = await readFile(new URL('../../docs/audit-log.md', import.meta.url), 'utf8')
const verifySource = await readFile(new URL('../../src/log/verify.ts', import.meta.url), 'utf8')

/** The text between two headings or phrases of the doc. */
function between(from: string, to: string): string {
  const start = doc.indexOf(from)
  const end = doc.indexOf(to, start)
  if (start < 0 || end < 0) throw new Error(`docs/audit-log.md no longer has ${from} ... ${to}`)
  return doc.slice(start, end)
}

/** A table's rows (lines starting `| `, header and rule left out) as their cells. */
function rows(section: string): string[][] {
  return section
    .split('\n')
    .filter((l) => l.startsWith('| ') && !l.startsWith('| ---'))
    .slice(1)
    .map((l) => l.split(' | ').map((c) => c.replace(/^\| ?| ?\|$/g, '').trim()))
}

/** Back-quoted names in a cell: `a`, `b` -> [a, b]. */
const quoted = (cell: string): string[] => [...cell.matchAll(/`([A-Za-z_]+)`/g)].map((m) => m[1]!)

const eventTable = rows(between('## StorageEvent', '`pqc_signature` is left out'))
const detailsCell = eventTable.find((r) => r[0] === '`details`')![1]!

describe('docs/audit-log.md StorageEvent table', () => {
  let h: Awaited<ReturnType<typeof inProcessHarness>>
  let events: StorageEvent[]
  const content = bytesOf('audit-log-doc', 5000)
  const oid = objectId('audit-log-doc', 'one')

  beforeAll(async () => {
    h = await inProcessHarness(5)
    const writer = h.nodeIds[0]!
    expect((await h.engine(writer).putContent(oid, 1, content, meta(7))).ok).toBe(true)
    // A gap: the homes refuse version 3 after 1 (a failed call's entry).
    expect((await h.engine(writer).putContent(oid, 3, bytesOf('gap', 100), meta(8))).ok).toBe(false)
    expect((await h.engine(h.nodeIds[1]!).getContent(oid, 1)).ok).toBe(true)
    events = []
    for (const id of h.nodeIds) for await (const ev of h.net.node(id).log.iterate()) events.push(ev)
  })
  afterAll(async () => h?.close())

  it('names every key an entry has, and only those', () => {
    const documented = eventTable.flatMap((r) => quoted(r[0]!))
    for (const ev of events) expect(Object.keys(ev).sort()).toEqual([...documented].sort())
  })

  it('lists every event type the code knows in the event_type row', () => {
    const row = eventTable.find((r) => r[0] === '`event_type`')![1]!
    expect(quoted(row).sort()).toEqual([...EVENT_TYPES].sort())
  })

  it("gives a write's entry the details its row names", () => {
    const store = events.find(
      (ev) => ev.event_type === 'STORE' && ev.object_id === oid && ev.error_code === null,
    )!
    const named = quoted(/for writes (.*?); for `REPLICA_COMMIT`/.exec(detailsCell)![1]!)
    expect(named).toEqual(['metadata', 'catalogue_homes', 'under_replicated', 'lagging_homes'])
    expect(Object.keys(store.details as object).sort()).toEqual([...named].sort())
    // "the request's tick for writes"
    expect(store.timestamp_tick).toBe(7)
  })

  it('gives a REPLICA_COMMIT entry the details its row names, and the shard descriptors replay reads', () => {
    const commits = events.filter((ev) => ev.event_type === 'REPLICA_COMMIT' && ev.object_id === oid)
    expect(commits.length).toBeGreaterThanOrEqual(3)
    const named = quoted(/for `REPLICA_COMMIT` (.*?) and the descriptors/.exec(detailsCell)![1]!)
    expect(named).toEqual(['kind', 'home', 'record_digest', 'metadata', 'catalogue_homes'])
    // The descriptors' fields as the Replay section lists them.
    const descriptorFields = quoted(/each shard descriptor's (.*?);/.exec(doc)![1]!)
    for (const ev of commits) {
      const details = ev.details as Record<string, unknown>
      expect(Object.keys(details).sort()).toEqual([...named, 'shards'].sort())
      for (const d of details.shards as object[])
        expect(Object.keys(d).sort()).toEqual([...descriptorFields].sort())
    }
  })

  it('gives a failed call an SE_ERR_* code, a detail, and the finer code in details.code', () => {
    const refused = events.find((ev) => ev.object_id === oid && ev.version === 3)!
    expect(refused.error_code).toBe('SE_ERR_INVALID_VERSION')
    expect(typeof refused.error_detail).toBe('string')
    expect(refused.details).toMatchObject({ code: 'INVALID_VERSION' })
  })

  it('holds ids, hashes and metadata, never content bytes', () => {
    // Any 32 bytes of the content, as hex, base64 or text, would show in the stored JSON.
    const piece = content.subarray(1000, 1032)
    const text = JSON.stringify(events)
    expect(text).not.toContain(toHex(piece))
    expect(text).not.toContain(Buffer.from(piece).toString('base64'))
    expect(events.every((ev) => JSON.stringify(ev).length < 64 * 1024)).toBe(true)
  })
})

describe('docs/audit-log.md `log verify` verdict', () => {
  afterAll(removeNetworks)

  it('prints exactly the fields the verdict table names', async () => {
    const dir = await networkWithHistory('audit-log-doc')
    const r = await runCli(['log', 'verify', '--dir', join(dir, NODES[0]!), '--json'])
    expect(r.status).toBe(0)
    const documented = rows(between('The verdict (`--json`', '| code | meaning |')).flatMap((r) =>
      quoted(r[0]!),
    )
    expect(Object.keys(JSON.parse(r.stdout)).sort()).toEqual([...documented].sort())
  })

  it('says the same in three lines of text', async () => {
    expect(doc).toContain('the text form says the same in three lines')
    const dir = join(await networkWithHistory('audit-log-doc-text'), NODES[0]!)
    const v = JSON.parse((await runCli(['log', 'verify', '--dir', dir, '--json'])).stdout)
    const text = await runCli(['log', 'verify', '--dir', dir])
    expect(text.status).toBe(0)
    const lines = text.stdout.trimEnd().split('\n')
    expect(lines).toHaveLength(3)
    for (const value of [
      v.node_id,
      v.entries,
      v.checkpoints,
      v.head_seq,
      v.head_event_id,
      v.last_checkpoint_id,
    ])
      expect(text.stdout).toContain(String(value))
    expect(lines[2]).toContain(`${v.public_key_hash} (from ${v.key_source})`)
  })

  it('lists every verdict code of src/log/verify.ts in the code table, and only those', () => {
    const union = /export type LogVerdictCode =([\s\S]*?)\n\n/.exec(verifySource)![1]!
    const codes = [...union.matchAll(/\| '([A-Z_]+)'/g)].map((m) => m[1]!)
    expect(codes.length).toBeGreaterThan(5)
    const documented = rows(between('| code | meaning |', 'Exit status: 0')).map((r) => quoted(r[0]!)[0])
    expect([...documented].sort()).toEqual([...codes].sort())
  })
})
