import type { CliIo } from '../../src/cli/io.js'
import { main } from '../../src/cli/main.js'

/** Runs the CLI in-process and captures what it prints. */
export async function runCli(args: string[]): Promise<{ status: number; stdout: string; stderr: string }> {
  let stdout = ''
  let stderr = ''
  const io: CliIo = {
    stdout: (t) => {
      stdout += t
    },
    stderr: (t) => {
      stderr += t
    },
    isTty: false,
  }
  const status = await main(args, io)
  return { status, stdout, stderr }
}
