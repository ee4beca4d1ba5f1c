import { Command, CommanderError } from 'commander'
import { registerAegis } from './commands/aegis.js'
import { registerConformance } from './commands/conformance.js'
import { registerDemo } from './commands/demo.js'
import { registerDevnet } from './commands/devnet.js'
import { registerGet } from './commands/get.js'
import { registerInit } from './commands/init.js'
import { registerInspect } from './commands/inspect.js'
import { registerLs } from './commands/ls.js'
import { registerProof } from './commands/proof.js'
import { registerPut } from './commands/put.js'
import { registerQuickstart } from './commands/quickstart.js'
import { registerStart } from './commands/start.js'
import { registerStatus } from './commands/status.js'
import { type CliIo, EXIT, processIo, reportError } from './io.js'

export { endByInterrupt } from './interrupt.js'

export function buildProgram(io: CliIo): Command {
  const program = new Command('qfs-node')
    .description('QFS V13 storage node: content-addressed, deterministic, replicated storage over libp2p')
    .version('0.1.0')
    .showHelpAfterError()
    .exitOverride()
    // Program options only before a command name: `put --version 3` is the command's own --version.
    .enablePositionalOptions()
    .configureOutput({ writeOut: io.stdout, writeErr: io.stderr })
  registerConformance(program, io)
  registerDemo(program, io)
  registerDevnet(program, io)
  registerInspect(program, io)
  registerInit(program, io)
  registerStart(program, io)
  registerStatus(program, io)
  registerPut(program, io)
  registerGet(program, io)
  registerProof(program, io)
  registerLs(program, io)
  registerAegis(program, io)
  registerQuickstart(program, io)
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
