import { Command, CommanderError } from 'commander'
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

/**
 * `aegis` is the one command whose module imports its dependencies (ML-DSA, the daemon's snapshot
 * files) at its top, so it is registered for real only when the arguments name it (`aegis ...`,
 * `help aegis`). Otherwise this stands in, with the same name and description, for the top-level
 * help and for "unknown command" hints; test/cli/lazy-imports.test.ts checks that both list the
 * same line.
 */
const AEGIS_DESCRIPTION = 'AEGIS authority: keys and signed epoch snapshots'

async function registerAegisFor(program: Command, io: CliIo, argv: readonly string[]): Promise<void> {
  if (!argv.includes('aegis')) {
    program.command('aegis').description(AEGIS_DESCRIPTION)
    return
  }
  const { registerAegis } = await import('./commands/aegis.js')
  registerAegis(program, io)
}

/**
 * The whole command tree for `argv`. Registering a command loads only what its options and help
 * need: each command loads its own dependencies (libp2p, LevelDB, fastify, ML-DSA) in its action,
 * so `--version`, `--help` and usage errors do not pay for them.
 */
export async function buildProgram(io: CliIo, argv: readonly string[] = []): Promise<Command> {
  const program = new Command('qfs-node')
    .description('QFS V13 storage node: content-addressed, deterministic, replicated storage over libp2p')
    .version('0.1.0')
    .exitOverride()
    // Program options only before a command name: `put --version 3` is the command's own --version.
    .enablePositionalOptions()
    .configureOutput({
      writeOut: io.stdout,
      writeErr: io.stderr,
      outputError: (text, write) => write(usageError(text)),
    })
  usageHint(program)
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
  await registerAegisFor(program, io, argv)
  registerQuickstart(program, io)
  overrideExits(program)
  return program
}

/** Every (nested) command reports through `main` instead of calling process.exit. */
function overrideExits(command: Command): void {
  for (const sub of command.commands) {
    sub.exitOverride().configureOutput(command.configureOutput())
    usageHint(sub)
    overrideExits(sub)
  }
}

/**
 * The parser's own errors (a missing option, an unknown flag or command) read like ours: one line
 * with the INVALID_ARGUMENT code, then where the usage is, not the whole help, which would push the
 * line that matters off a terminal.
 */
function usageError(text: string): string {
  return text.replace(/^error: /, 'error [INVALID_ARGUMENT]: ')
}

function usageHint(command: Command): void {
  const path: string[] = []
  for (let c: Command | null = command; c !== null; c = c.parent) path.unshift(c.name())
  command.showHelpAfterError(`(see '${path.join(' ')} --help')`)
}

/** Runs the CLI and answers its exit status (never calls process.exit, so tests can drive it). */
export async function main(argv: readonly string[], io: CliIo = processIo): Promise<number> {
  const program = await buildProgram(io, argv)
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
