import { mkdir, writeFile } from 'node:fs/promises'
import { availableParallelism, cpus, loadavg } from 'node:os'
import { dirname, resolve } from 'node:path'

/** The machine a benchmark ran on: figures mean little without it. */
export function machine(): Record<string, unknown> {
  return {
    node: process.version,
    cpu: cpus()[0]?.model ?? 'unknown',
    cores: availableParallelism(),
    load_average_1m: loadavg()[0],
  }
}

/** Writes `evidence/bench/<name>.json` under the project root and echoes it. */
export async function writeReport(name: string, report: Record<string, unknown>): Promise<string> {
  const path = resolve(process.cwd(), 'evidence', 'bench', `${name}.json`)
  await mkdir(dirname(path), { recursive: true })
  const text = `${JSON.stringify({ benchmark: name, machine: machine(), ...report }, null, 2)}\n`
  await writeFile(path, text)
  process.stdout.write(text)
  return path
}
