import { readFile } from 'node:fs/promises'
import type { Command } from 'commander'
import { InvalidInputError } from '../../core/errors.js'
import { oneLine, unreadableFile } from '../errors.js'
import { CliExit, type CliIo, EXIT } from '../io.js'

export function registerConformance(program: Command, io: CliIo): void {
  program
    .command('conformance')
    .description('compute every case of a qfs-conformance-vectors/1 file from its input and compare')
    .argument('<file>', 'vector file (JSON)')
    .option('--json', 'print {"results": [...]} with the computed values instead of a report')
    .action(async (file: string, opts: { json?: boolean }) => {
      let text: string
      try {
        text = await readFile(file, 'utf8')
      } catch (err) {
        // Text past the largest string V8 makes (about 512 MiB, or /dev/zero) fails with a RangeError,
        // no errno: what the file holds is wrong, not the file system.
        if (err instanceof RangeError) {
          throw new InvalidInputError(`vector file ${file} is too large to read as text (${err.message})`)
        }
        throw unreadableFile(`vector file ${file}`, err)
      }
      let parsed: unknown
      try {
        parsed = JSON.parse(text)
      } catch (err) {
        // What the file holds is bad input, as a malformed case is (parseVectorFile).
        throw new InvalidInputError(`vector file ${file} is not JSON: ${oneLine((err as Error).message)}`)
      }
      const { checkCase, parseVectorFile } = await import('../../conformance/run.js')
      const reports = parseVectorFile(parsed).map(checkCase)
      const failed = reports.filter((r) => !r.pass)
      if (opts.json === true) {
        io.stdout(`${JSON.stringify({ results: reports.map((r) => r.outcome) })}\n`)
      } else {
        for (const r of failed) {
          io.stdout(
            `FAIL ${r.id} (${r.kind}): expected ${JSON.stringify(r.wanted)} got ${JSON.stringify(r.outcome)}\n`,
          )
        }
        io.stdout(
          `${reports.length} cases: ${reports.length - failed.length} passed, ${failed.length} failed\n`,
        )
      }
      if (failed.length > 0) throw new CliExit(EXIT.CHECK_FAILED)
    })
}
