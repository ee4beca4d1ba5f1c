import { readFile } from 'node:fs/promises'
import { resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Command } from 'commander'
import type { DevnetNodeInfo } from '../../daemon/devnet.js'
import type { QfsClient } from '../../sdk/index.js'
import { MIN_DEVNET_NODES } from '../help-values.js'
import { type InterruptWatch, interruptedExit, watchInterrupts } from '../interrupt.js'
import { CliExit, type CliIo, EXIT } from '../io.js'
import { integerOption } from './client-common.js'
import { devnetArgumentError } from './devnet.js'

const VECTORS = fileURLToPath(new URL('../../../test/vectors/core-public.json', import.meta.url))
const SAMPLE_BYTES = 3 * 1024 * 1024 + 12_345
/** A demo, not a load test: more daemons than this only slow a small machine down. */
const MAX_QUICKSTART_NODES = 16

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
    .option('--nodes <n>', `nodes in the local network (${MIN_DEVNET_NODES}..${MAX_QUICKSTART_NODES})`, '5')
    .addHelpText(
      'after',
      '\nCtrl-C (SIGINT), SIGTERM or SIGHUP stops the network it started and exits 130, 143 or 129.\n',
    )
    .action(async (opts: { dir: string; nodes: string }) => {
      const nodes = integerOption(opts.nodes, '--nodes', MIN_DEVNET_NODES, MAX_QUICKSTART_NODES)
      // Caught from here to the end: an interruption stops the network this command started (its
      // daemons are in their own process group, so the terminal's Ctrl-C does not reach them).
      const interrupts = watchInterrupts()
      try {
        await runQuickstart(io, resolve(opts.dir), nodes, interrupts)
      } finally {
        interrupts.dispose()
      }
    })
}

async function runQuickstart(
  io: CliIo,
  dir: string,
  nodes: number,
  interrupts: InterruptWatch,
): Promise<void> {
  // Once interrupted, the steps that are still running fail as the network stops: say nothing of it.
  const step = (text: string) => {
    if (interrupts.received === undefined) io.stdout(`${text}\n`)
  }
  const fail = (text: string): never => {
    if (interrupts.received !== undefined) throw interruptedExit(interrupts.received)
    io.stdout(`FAILED: ${text}\n`)
    throw new CliExit(EXIT.CHECK_FAILED)
  }
  const interrupted = async (signal: NodeJS.Signals, stopping: Promise<void>): Promise<never> => {
    io.stderr(`interrupted (${signal}): stopping the network\n`)
    await stopping
    io.stderr(`   network stopped; its data stays in ${dir}\n`)
    throw interruptedExit(signal)
  }

  // The network stack loads once the command runs, not for every command's --help.
  const [{ checkCase, parseVectorFile }, { Devnet }, { QfsClient }] = await Promise.all([
    import('../../conformance/run.js'),
    import('../../daemon/devnet.js'),
    import('../../sdk/client.js'),
  ])
  const reports = parseVectorFile(JSON.parse(await readFile(VECTORS, 'utf8'))).map(checkCase)
  const bad = reports.filter((r) => !r.pass).length
  step(`1. conformance: ${reports.length - bad} of ${reports.length} public vectors match`)
  if (bad > 0) fail(`${bad} conformance cases differ (run \`qfs-node conformance ${VECTORS}\`)`)
  const nothingStarted = (signal: NodeJS.Signals): never => {
    io.stderr(`interrupted (${signal}): no daemon was started\n`)
    throw interruptedExit(signal)
  }
  if (interrupts.received !== undefined) nothingStarted(interrupts.received)

  step(`2. starting ${nodes} daemons on 127.0.0.1 in ${dir} ...`)
  const devnet = await Devnet.prepare({ dir, nodes, logLevel: 'warn' }).catch((err: unknown) => {
    throw devnetArgumentError(err)
  })
  if (interrupts.received !== undefined) nothingStarted(interrupts.received)
  // Should this process die without stopping them (an uncaught error), the daemons die with it; if
  // it is killed outright, each stops itself when its stdin pipe closes (--stop-on-stdin-eof).
  const onExit = () => devnet.killAllNow()
  process.on('exit', onExit)
  try {
    const started = devnet.launchAll()
    const first = await Promise.race([started.then(() => undefined), interrupts.signalled])
    if (first !== undefined) {
      return await interrupted(
        first,
        devnet.stop().then(() => started.then(noop, noop)),
      )
    }
    let writer: QfsClient | undefined
    let reader: QfsClient | undefined
    const demo = (async () => {
      const list = devnet.nodes
      step(
        `   ready: ${list.map((n, i) => `node ${i + 1} ${shortNodeId(n.node_id)} (api ${n.api})`).join(', ')}`,
      )
      writer = await QfsClient.create({ node: list[0]!.multiaddrs[0]! })
      reader = await QfsClient.create({ node: list[list.length - 1]!.multiaddrs[0]! })
      await demoSteps(list, writer, reader, step, fail)
    })()
    const closeAll = async () => {
      await writer?.close()
      await reader?.close()
      await devnet.stop()
    }
    const signal = await Promise.race([demo.then(() => undefined), interrupts.signalled]).catch(
      async (err: unknown) => {
        await closeAll()
        step(`   network stopped; its data stays in ${dir} (run again to reuse it)`)
        throw err
      },
    )
    if (signal !== undefined) {
      // The steps still running fail once their clients close; their outcome no longer matters.
      demo.catch(noop)
      return await interrupted(signal, closeAll())
    }
    await closeAll()
    step(`   network stopped; its data stays in ${dir} (run again to reuse it)`)
    // A signal during that last stop: the network is down as asked, and the status says so.
    if (interrupts.received !== undefined) throw interruptedExit(interrupts.received)
  } finally {
    process.off('exit', onExit)
  }
}

const noop = () => {}

/**
 * A node id as every line of the demo prints it: its last characters. Ed25519 peer ids all begin
 * with `12D3KooW`, so the end is what tells them apart; one form lets a reader match the ready line
 * with the placement and the proof lines.
 */
function shortNodeId(id: string): string {
  return `…${id.slice(-6)}`
}

/** Steps 3 to 5: store through the first node, read back and prove through the last. */
async function demoSteps(
  list: DevnetNodeInfo[],
  writer: QfsClient,
  reader: QfsClient,
  step: (text: string) => void,
  fail: (text: string) => never,
): Promise<void> {
  const [{ generateContent }, { objectId }] = await Promise.all([
    import('../../conformance/content.js'),
    import('../../core/ids.js'),
  ])
  const content = generateContent({ sha3_stream: 'qfs-quickstart-sample', length: SAMPLE_BYTES })
  const oid = objectId('quickstart', 'sample-file')
  const latest = await writer.listObjects({ prefix: oid })
  const version = latest.ok ? (latest.objects.at(-1)?.version ?? 0) + 1 : 1
  const put = await writer.putContent(oid, version, content, {
    author_node_id: list[0]!.node_id,
    created_at_tick: version,
    tags: ['quickstart'],
  })
  if (!put.ok) return fail(`put: ${put.error_code} ${put.error_detail}`)
  step(`3. stored ${SAMPLE_BYTES} bytes as ${oid.slice(0, 16)}… v${version} through node 1`)
  step(`   hash_commit ${put.hash_commit}`)
  for (const id of put.shard_ids)
    step(`   shard ${id.slice(0, 16)}… on ${put.replica_sets[id]!.map(shortNodeId).join(', ')}`)

  const got = await reader.getContent(oid, version)
  if (!got.ok) return fail(`read: ${got.error_code} ${got.error_detail}`)
  if (!Buffer.from(got.content_bytes).equals(Buffer.from(content))) fail('read-back bytes differ')
  step(
    `4. read back through node ${list.length}: ${got.content_bytes.length} bytes, identical, hash_commit verified`,
  )

  const shard = put.shard_ids[0]!
  const proof = await reader.getStorageProof(oid, version, shard)
  if (!proof.ok) return fail(`proof: ${proof.error_code} ${proof.error_detail}`)
  step(
    `5. proof of storage for shard ${shard.slice(0, 16)}…: block ${proof.proof.leaf_index} of ${proof.proof.leaf_count}, ` +
      `answered by ${shortNodeId(proof.answered_by)}, audit path ${proof.proof.audit_path.length} hashes, verified against root ${proof.merkle_root.slice(0, 16)}…`,
  )
  step('demo OK')
}
