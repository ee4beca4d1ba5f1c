import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { fixture, type StubNode, stubNode } from '../sdk/stub.js'
import { runCli } from './run.js'

/**
 * What `ls` sends for its flags, and what it refuses before sending anything: a stub node records
 * the filters of every listing it is asked for.
 */
describe('qfs-node ls arguments', () => {
  let stub: StubNode
  let requests: unknown[] = []
  const f = fixture('ls-arguments', 10)
  const oid = f.oid
  beforeAll(async () => {
    stub = await stubNode(2310)
    stub.behaviour.list = (request) => {
      requests.push(request.filters)
      return { objects: [], next_cursor: { object_id: oid, version: 3 } }
    }
  })
  afterAll(async () => stub?.close())
  beforeEach(() => {
    requests = []
  })

  it('sends each filter flag as its own filter', async () => {
    const r = await runCli([
      'ls',
      '--node',
      stub.address,
      '--prefix',
      oid.slice(0, 4),
      '--tag',
      't',
      '--author',
      'me',
      '--tick-from',
      '3',
      '--tick-to',
      '9',
      '--limit',
      '5',
      '--after',
      `${oid}:2`,
    ])
    expect(r.stderr).toBe(`more: --after ${oid}:3\n`)
    expect(r.status).toBe(0)
    expect(requests).toEqual([
      {
        prefix: oid.slice(0, 4),
        tag: 't',
        author: 'me',
        tick_from: 3,
        tick_to: 9,
        limit: 5,
        after: { object_id: oid, version: 2 },
      },
    ])
  })

  it('puts the next cursor in the --json document only, not on stderr', async () => {
    const r = await runCli(['ls', '--node', stub.address, '--json'])
    expect(r.status).toBe(0)
    expect(JSON.parse(r.stdout)).toEqual({ objects: [], next_cursor: { object_id: oid, version: 3 } })
    expect(r.stderr).toBe('')
  })

  it.each([
    [['--after', `${oid}:1:2`], '--after must be OBJECT_ID:VERSION'],
    [['--after', `${oid}:0`], '--after VERSION must be an integer in 1..9007199254740991, not "0"'],
    [['--prefix', 'a'.repeat(65)], '--prefix must be lower-case hex of at most 64 characters'],
    [['--tick-to', '01'], '--tick-to must be an integer in 0..9007199254740991, not "01"'],
    [['--tick-from', '-1'], '--tick-from must be an integer in 0..9007199254740991, not "-1"'],
    [['--limit', '0'], '--limit must be an integer in 1..1000, not "0"'],
  ])('refuses %j with exit 2 before asking the node', async (args, message) => {
    const r = await runCli(['ls', '--node', stub.address, ...args])
    expect(r.stderr).toBe(`error [INVALID_ARGUMENT]: ${message}\n`)
    expect(r.status).toBe(2)
    expect(r.stdout).toBe('')
    expect(requests).toEqual([])
  })
})
