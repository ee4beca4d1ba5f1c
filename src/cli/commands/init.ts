import type { Command } from 'commander'
import { InvalidArgumentError } from '../errors.js'
import { type CliIo, printJson } from '../io.js'

/** `--dir`, else `QFS_DIR`: every daemon command names its data directory the same way. */
export function dataDirOf(dir: string | undefined): string {
  const d = dir ?? process.env.QFS_DIR
  if (d === undefined || d === '')
    throw new InvalidArgumentError('a data directory is required (--dir or QFS_DIR)')
  return d
}

export function registerInit(program: Command, io: CliIo): void {
  program
    .command('init')
    .description(
      "create a node's data directory: libp2p peer key (the node id), ML-DSA-65 audit key, node.json",
    )
    .option('--dir <dir>', 'node data directory (default $QFS_DIR)')
    .option('--json', 'print {created, dir, node_id, audit_public_key_hash}')
    .action(async (opts: { dir?: string; json?: boolean }) => {
      const dir = dataDirOf(opts.dir)
      // Key generation (libp2p, ML-DSA) loads only for a command that gets this far.
      const { initDataDir } = await import('../../daemon/data-dir.js')
      const r = await initDataDir(dir)
      if (opts.json === true) {
        printJson(io, {
          created: r.created,
          dir: r.dir,
          node_id: r.nodeId,
          audit_public_key_hash: r.auditPublicKeyHash,
        })
        return
      }
      io.stdout(r.created ? `created node in ${r.dir}\n` : `${r.dir} already holds a node (unchanged)\n`)
      io.stdout(`node_id                ${r.nodeId}\n`)
      io.stdout(`audit_public_key_hash  ${r.auditPublicKeyHash}\n`)
    })
}
