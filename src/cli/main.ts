import { Command, CommanderError } from 'commander'
import { registerConformance } from './commands/conformance.js'
import { registerDemo } from './commands/demo.js'
import { registerInspect } from './commands/inspect.js'
import { type CliIo, EXIT, processIo, reportError } from './io.js'

export function buildProgram(io: CliIo): Command {
  const program = new Command('qfs-node')
    .description('QFS V13 storage node: content-addressed, deterministic, replicated storage over libp2p')
    .version('0.1.0')
    .showHelpAfterError()
    .exitOverride()
    .configureOutput({ writeOut: io.stdout, writeErr: io.stderr })
  registerConformance(program, io)
  registerDemo(program, io)
  registerInspect(program, io)
  overrideExits(program)
  return program
}

/** Every (nested) command reports through `main` instead of calling process.exit. */
function overrideExits(command: Command): void {
  for (const sub of command.commands) {
    sub.exitOverride().showHelpAfterError().configureOutput(command.configureOutput())
    overrideExits(sub)
  }
}

/** Runs the CLI and answers its exit status (never calls process.exit, so tests can drive it). */
export async function main(argv: readonly string[], io: CliIo = processIo): Promise<number> {
  const program = buildProgram(io)
  try {
    await program.parseAsync([...argv], { from: 'user' })
    return EXIT.OK
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version end through here with exit code 0.
      return err.exitCode === 0 ? EXIT.OK : EXIT.USAGE
    }
    return reportError(io, err)
  }
}
