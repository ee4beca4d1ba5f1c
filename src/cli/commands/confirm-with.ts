import type { VersionRecord } from '../../core/record.js'
import type { EngineFailure } from '../../engine/responses.js'
import type { NodeAddress } from '../../sdk/address.js'
import type { QfsClient } from '../../sdk/client.js'
import type { VersionConfirmation, VersionToConfirm } from '../../sdk/confirm.js'
import { confirmationDetail } from '../../sdk/confirm-detail.js'
import { InvalidArgumentError, nodeOption } from './client-common.js'

export const CONFIRM_WITH_HELP =
  'another node to confirm the version with (repeat the flag; an odd number, none of them the --node one): FILE is written only if more than half of them list the version with the hash_commit read'

export const CONFIRM_PROOF_HELP =
  'another node to confirm the record with (repeat the flag; an odd number, none of them the --node one): verified only if more than half of them resolve the record the proof was checked against'

/** What a confirmed read reports: the nodes asked, in the order given, and what each answered. */
export interface ConfirmationSummary {
  confirmed: boolean
  agreeing: number
  asked: string[]
  answers: VersionConfirmation['answers']
}

/**
 * `--confirm-with` addresses, checked as `--node` is (exit 2 before anything is dialled). The node
 * read from, or one address twice, would count one node's word twice toward the majority.
 */
export async function confirmWithOption(texts: readonly string[], node: NodeAddress): Promise<NodeAddress[]> {
  const nodes: NodeAddress[] = []
  const peers = new Set([node.peerId])
  for (const text of texts) {
    const parsed = await nodeOption(text, '--confirm-with')
    const peer = parsed.peerId
    if (peers.has(peer)) {
      throw new InvalidArgumentError(
        `--confirm-with: ${peer} is ${peer === node.peerId ? 'the --node one' : 'given twice'}: each node asked must be another one, or its word counts twice`,
      )
    }
    peers.add(peer)
    nodes.push(parsed)
  }
  return nodes
}

/**
 * Asks every node of `nodes` (a client each, closed after) whether it lists `target`
 * (sdk/confirm.ts `confirmVersion`).
 */
export async function confirmRead(
  nodes: readonly NodeAddress[],
  target: VersionToConfirm,
  signal: AbortSignal,
): Promise<ConfirmationSummary> {
  const { confirmVersion } = await import('../../sdk/confirm.js')
  return askNodes(nodes, (clients) => confirmVersion(clients, target, { signal }))
}

/**
 * Asks every node of `nodes` whether the record it resolves for the version is `record`
 * (sdk/confirm-record.ts `confirmRecord`): what a proof was checked against.
 */
export async function confirmProofRecord(
  nodes: readonly NodeAddress[],
  record: VersionRecord,
  signal: AbortSignal,
): Promise<ConfirmationSummary> {
  const { confirmRecord } = await import('../../sdk/confirm-record.js')
  return askNodes(nodes, (clients) => confirmRecord(clients, record, { signal }))
}

/**
 * A client of each node of `nodes`, asked through `ask`. The clients share one libp2p node, started
 * here and stopped after: one ephemeral identity and one process-local node however many nodes are
 * asked, and nothing left running when a client cannot be started.
 */
async function askNodes(
  nodes: readonly NodeAddress[],
  ask: (clients: QfsClient[]) => Promise<VersionConfirmation | EngineFailure>,
): Promise<ConfirmationSummary> {
  const { QfsClient: Client } = await import('../../sdk/client.js')
  const { createQfsLibp2p } = await import('../../net/libp2p-node.js')
  const { generateKeyPair } = await import('@libp2p/crypto/keys')
  // Reachable by nobody, as a client's own node: an ephemeral identity and no listen address.
  const libp2p = await createQfsLibp2p({ privateKey: await generateKeyPair('Ed25519'), listen: [] })
  const clients: QfsClient[] = []
  try {
    for (const n of nodes) clients.push(await Client.create({ node: n.multiaddr, libp2p }))
    const answer = await ask(clients)
    // What is confirmed comes from an answer the SDK checked: its ids are well formed, so this cannot fail.
    if (!answer.ok) throw new Error(`confirming refused a checked answer: ${answer.error_detail}`)
    return {
      confirmed: answer.confirmed,
      agreeing: answer.agreeing,
      asked: nodes.map((n) => n.peerId),
      answers: answer.answers,
    }
  } finally {
    await Promise.all(clients.map((c) => c.close()))
    await libp2p.stop()
  }
}

/**
 * The failure a read not confirmed ends with: what was read does not check out against the network.
 * It carries `confirmation` as a confirmed read's summary does, so `--json` gives a script each
 * node's answer in one shape either way, not only inside the message.
 */
export function notConfirmed(
  target: VersionToConfirm,
  summary: ConfirmationSummary,
  storageEventId: string,
): EngineFailure & { confirmation: ConfirmationSummary } {
  return {
    ok: false,
    error_code: 'SE_ERR_INTEGRITY_MISMATCH',
    error_detail: `${confirmationDetail(target, summary, summary.asked)}; nothing written`,
    code: 'NOT_CONFIRMED',
    storage_event_id: storageEventId,
    confirmation: summary,
  }
}
