import type { Command } from 'commander'
import type { ObjectSummary } from '../../engine/responses.js'
import { type CliIo, jsonText, printJson } from '../io.js'
import {
  failWith,
  InvalidArgumentError,
  idArgument,
  integerOption,
  NODE_HELP,
  nodeOption,
  printable,
  withClient,
} from './client-common.js'

interface LsOptions {
  node: string
  prefix?: string
  tag?: string
  author?: string
  tickFrom?: string
  tickTo?: string
  limit?: string
  after?: string
  all?: boolean
  json?: boolean
}

type Cursor = { object_id: string; version: number }

const OUTPUT_HELP = `
Output: a table when stdout is a terminal, else one JSON object summary per line; with --json one
document {"objects": [...], "next_cursor": ...}. Objects are sorted by (object_id, version). Without
--all, a next page is announced on stderr as the --after value to pass. A page may hold fewer
objects than --limit, even none, and still have a next page: nodes stop after examining a bounded
number of entries, so a filter that matches little takes several pages.`

export function registerLs(program: Command, io: CliIo): void {
  program
    .command('ls')
    .description('list stored versions, sorted by (object_id, version), with filters and paging')
    .requiredOption('--node <multiaddr>', NODE_HELP)
    .option('--prefix <hex>', 'object_id prefix (lower-case hex)')
    .option('--tag <tag>', 'versions carrying this tag (compared in normal form)')
    .option('--author <id>', 'versions whose author_node_id is exactly this')
    .option('--tick-from <n>', 'created_at_tick at least this')
    .option('--tick-to <n>', 'created_at_tick at most this')
    .option('--limit <n>', 'page size, 1..1000 (default 100)')
    .option('--after <object_id:version>', 'start after this version (a previous next_cursor)')
    .option('--all', 'follow next_cursor to the end')
    .option('--json', 'print one JSON document')
    .addHelpText('after', OUTPUT_HELP)
    .action(async (opts: LsOptions) => {
      const node = await nodeOption(opts.node)
      if (opts.prefix !== undefined && !/^[0-9a-f]{0,64}$/.test(opts.prefix)) {
        throw new InvalidArgumentError('--prefix must be lower-case hex of at most 64 characters')
      }
      const filters = {
        prefix: opts.prefix,
        tag: opts.tag,
        author: opts.author,
        tick_from: opts.tickFrom === undefined ? undefined : integerOption(opts.tickFrom, '--tick-from', 0),
        tick_to: opts.tickTo === undefined ? undefined : integerOption(opts.tickTo, '--tick-to', 0),
        limit: opts.limit === undefined ? undefined : integerOption(opts.limit, '--limit', 1, 1000),
      }
      let after = opts.after === undefined ? undefined : cursorOption(opts.after)
      const json = opts.json === true
      const table = !json && io.isTty
      const collected: ObjectSummary[] = []
      const next = await withClient(node, async (client) => {
        for (;;) {
          const page = await client.listObjects({ ...filters, after }, {})
          if (!page.ok) failWith(io, page, json)
          if (json || table) collected.push(...page.objects)
          else for (const o of page.objects) io.stdout(`${jsonText(o)}\n`)
          const cursor = page.next_cursor
          // The SDK refused a page whose cursor does not advance past `after` (checkListing).
          if (cursor === null || opts.all !== true) return cursor
          after = cursor
        }
      })
      if (json) printJson(io, { objects: collected, next_cursor: next })
      else if (table) printTable(io, collected)
      if (next !== null && !json) io.stderr(`more: --after ${next.object_id}:${next.version}\n`)
    })
}

function cursorOption(text: string): Cursor {
  const [oid, version, ...rest] = text.split(':')
  if (oid === undefined || version === undefined || rest.length > 0) {
    throw new InvalidArgumentError('--after must be OBJECT_ID:VERSION')
  }
  return {
    object_id: idArgument(oid, '--after OBJECT_ID'),
    version: integerOption(version, '--after VERSION', 1),
  }
}

function printTable(io: CliIo, objects: readonly ObjectSummary[]): void {
  const rows = [
    ['OBJECT_ID', 'VERSION', 'KIND', 'SIZE', 'TICK', 'AUTHOR', 'TAGS'],
    ...objects.map((o) => [
      o.object_id,
      String(o.version),
      o.kind,
      String(o.content_size),
      String(o.created_at_tick),
      printable(o.metadata.author_node_id),
      printable(o.metadata.tags.join(',')),
    ]),
  ]
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)))
  for (const r of rows)
    io.stdout(
      `${r
        .map((cell, c) => cell.padEnd(widths[c]!))
        .join('  ')
        .trimEnd()}\n`,
    )
  if (objects.length === 0) io.stdout('(no objects)\n')
}
