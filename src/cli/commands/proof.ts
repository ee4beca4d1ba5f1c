import type { Command } from 'commander'
import type { StorageProof } from '../../core/proof.js'
import { CliExit, type CliIo, EXIT, printJson } from '../io.js'
import {
  collect,
  failWith,
  idArgument,
  integerOption,
  NODE_HELP,
  nodeOption,
  versionOption,
  withClient,
} from './client-common.js'
import {
  CONFIRM_PROOF_HELP,
  type ConfirmationSummary,
  confirmProofRecord,
  confirmWithOption,
} from './confirm-with.js'

interface ProofOptions {
  node: string
  version: string
  shard: string
  leaf?: string
  omitBlock?: boolean
  json?: boolean
  confirmWith: string[]
}

/**
 * A storage proof checked here, with the core alone: the expected Merkle root, leaf count and
 * holders come from the version's record (its read header), never from the proof's answer. With
 * --confirm-with, that record must be the one more than half of the other nodes named resolve too.
 */
export function registerProof(program: Command, io: CliIo): void {
  program
    .command('proof')
    .description('ask for a storage proof of one shard and verify it locally; prints {"verified", "proof"}')
    .argument('<object_id>', '64 lower-case hex characters')
    .requiredOption('--version <n>', 'the version')
    .requiredOption('--shard <shard_id>', 'the shard (64 hex), one of the write answer shard_ids')
    .requiredOption('--node <multiaddr>', NODE_HELP)
    .option('--leaf <n>', "the block to prove (default: the epoch's challenge index)")
    .option('--confirm-with <multiaddr>', CONFIRM_PROOF_HELP, collect, [])
    .option(
      '--omit-block',
      'print the proof without its block (base64: 350 KB for a 256 KiB block), with block_bytes instead; it is verified all the same',
    )
    // Accepted like put's, get's and ls's --json, so a script can pass it to every client command.
    .option('--json', 'print JSON (the default and only output)')
    .addHelpText(
      'after',
      '\nExit status: 0 verified, 1 not verified (with --confirm-with: or not confirmed), 2 bad arguments, 3 the node could not answer, 4 the node\n' +
        'answered that it holds no such version or shard (NOT_FOUND) or that the shard is empty (EMPTY_SHARD).',
    )
    .action(async (oidText: string, opts: ProofOptions) => {
      const oid = idArgument(oidText, 'OBJECT_ID')
      const version = versionOption(opts.version)
      const shardId = idArgument(opts.shard, '--shard')
      const leafIndex = opts.leaf === undefined ? undefined : integerOption(opts.leaf, '--leaf', 0)
      const node = await nodeOption(opts.node)
      const confirmWith = await confirmWithOption(opts.confirmWith, node)
      const { checkProofAnswer } = await import('../../sdk/checks.js')
      const result = await withClient(node, async (client): Promise<ProofResult> => {
        const answer = await client.fetchStorageProof(oid, version, shardId, { leafIndex })
        if (!answer.ok) {
          // No holder could prove the block: the audit's answer is "not verified", not a usage error.
          if (answer.code === 'PROOF_UNAVAILABLE') {
            return { verified: false, proof: null, reason: answer.error_detail }
          }
          failWith(io, answer, true)
        }
        const record = await client.getRecord(oid, version)
        if ('error_code' in record) failWith(io, record, true)
        const verdict = checkProofAnswer(answer, record, { shardId, leafIndex })
        if (!verdict.ok) return { verified: false, proof: answer.proof, reason: verdict.reason }
        if (confirmWith.length === 0) return { verified: true, proof: answer.proof }
        // The proof verified against the record --node sent, whose Merkle roots hash_commit does not
        // bind: the nodes asked say whether it is the record the network decided.
        const confirmation = await confirmProofRecord(confirmWith, record, new AbortController().signal)
        if (confirmation.confirmed) return { verified: true, proof: answer.proof, confirmation }
        const { confirmationDetail } = await import('../../sdk/confirm-detail.js')
        const reason = `NOT_CONFIRMED: the record the proof verified against: ${confirmationDetail(record, confirmation, confirmation.asked)}`
        return { verified: false, proof: answer.proof, reason, confirmation }
      })
      printJson(io, opts.omitBlock === true ? withoutBlock(result) : result)
      if (!result.verified) throw new CliExit(EXIT.CHECK_FAILED)
    })
}

interface ProofResult {
  verified: boolean
  proof: StorageProof | null
  reason?: string
  confirmation?: ConfirmationSummary
}

/** The proof as printed by --omit-block: the block's length in its place; `leaf_hash` still names it. */
function withoutBlock(result: { proof: StorageProof | null }): unknown {
  if (result.proof === null) return result
  const { block, ...rest } = result.proof
  return { ...result, proof: { ...rest, block_bytes: Buffer.from(block, 'base64').length } }
}
