import { readFile } from 'node:fs/promises'
import { resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Command } from 'commander'
import { generateContent } from '../../conformance/content.js'
import { checkCase, parseVectorFile } from '../../conformance/run.js'
import { objectId } from '../../core/ids.js'
import { Devnet } from '../../daemon/devnet.js'
import { QfsClient } from '../../sdk/index.js'
import { CliExit, type CliIo, EXIT } from '../io.js'

const VECTORS = fileURLToPath(new URL('../../../test/vectors/core-public.json', import.meta.url))
const SAMPLE_BYTES = 3 * 1024 * 1024 + 12_345

/**
 * The README's first command: the conformance vectors, then a real local network end to end
 * (store through one node, read back through another, a proof verified with the core alone), then
 * the network stopped again. Every step is checked; any failure stops with a non-zero status.
 */
export function registerQuickstart(program: Command, io: CliIo): void {
  program
    .command('quickstart')
    .description('demo: conformance vectors, then a 5-node local network storing, reading and proving a file')
    .option('--dir <dir>', 'devnet directory (reused when run again)', '.qfs-demo')
    .option('--nodes <n>', 'nodes in the local network (3..16)', '5')
    .action(async (opts: { dir: string; nodes: string }) => {
      const nodes = Number(opts.nodes)
      if (!/^\d+$/.test(opts.nodes) || nodes < 3 || nodes > 16) {
        io.stderr('error [INVALID_ARGUMENT]: --nodes must be an integer in 3..16\n')
        throw new CliExit(EXIT.USAGE)
      }
      const step = (text: string) => io.stdout(`${text}\n`)
      const fail = (text: string): never => {
        io.stdout(`FAILED: ${text}\n`)
        throw new CliExit(EXIT.CHECK_FAILED)
      }

      const reports = parseVectorFile(JSON.parse(await readFile(VECTORS, 'utf8'))).map(checkCase)
      const bad = reports.filter((r) => !r.pass).length
      step(`1. conformance: ${reports.length - bad} of ${reports.length} public vectors match`)
      if (bad > 0) fail(`${bad} conformance cases differ (run \`qfs-node conformance ${VECTORS}\`)`)

      const dir = resolve(opts.dir)
      step(`2. starting ${nodes} daemons on 127.0.0.1 in ${dir} ...`)
      const devnet = await Devnet.start({ dir, nodes, logLevel: 'warn' })
      let writer: QfsClient | undefined
      let reader: QfsClient | undefined
      try {
        const list = devnet.nodes
        step(`   ready: ${list.map((n) => `${n.node_id.slice(0, 14)}… (api ${n.api})`).join(', ')}`)
        writer = await QfsClient.create({ node: list[0]!.multiaddrs[0]! })
        reader = await QfsClient.create({ node: list[list.length - 1]!.multiaddrs[0]! })

        const content = generateContent({ sha3_stream: 'qfs-quickstart-sample', length: SAMPLE_BYTES })
        const oid = objectId('quickstart', 'sample-file')
        const latest = await writer.listObjects({ prefix: oid })
        const version = latest.ok ? (latest.objects.at(-1)?.version ?? 0) + 1 : 1
        const put = await writer.putContent(oid, version, content, {
          author_node_id: list[0]!.node_id,
          created_at_tick: version,
          tags: ['quickstart'],
        })
        if (!put.ok) fail(`put: ${put.error_code} ${put.error_detail}`)
        if (!put.ok) return
        step(`3. stored ${SAMPLE_BYTES} bytes as ${oid.slice(0, 16)}… v${version} through node 1`)
        step(`   hash_commit ${put.hash_commit}`)
        for (const id of put.shard_ids)
          step(`   shard ${id.slice(0, 16)}… on ${put.replica_sets[id]!.map((n) => n.slice(-6)).join(', ')}`)

        const got = await reader.getContent(oid, version)
        if (!got.ok) fail(`read: ${got.error_code} ${got.error_detail}`)
        if (!got.ok) return
        if (!Buffer.from(got.content_bytes).equals(Buffer.from(content))) fail('read-back bytes differ')
        step(
          `4. read back through node ${list.length}: ${got.content_bytes.length} bytes, identical, hash_commit verified`,
        )

        const shard = put.shard_ids[0]!
        const proof = await reader.getStorageProof(oid, version, shard)
        if (!proof.ok) fail(`proof: ${proof.error_code} ${proof.error_detail}`)
        if (!proof.ok) return
        step(
          `5. proof of storage for shard ${shard.slice(0, 16)}…: block ${proof.proof.leaf_index} of ${proof.proof.leaf_count}, ` +
            `answered by ${proof.answered_by.slice(-6)}, audit path ${proof.proof.audit_path.length} hashes, verified against root ${proof.merkle_root.slice(0, 16)}…`,
        )
        step('demo OK')
      } finally {
        await writer?.close()
        await reader?.close()
        await devnet.stop()
        step(`   network stopped; its data stays in ${dir} (run again to reuse it)`)
      }
    })
}
