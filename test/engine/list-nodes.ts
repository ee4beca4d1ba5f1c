import type { VersionRecord } from '../../src/core/record.js'
import type { NodeListFilters } from '../../src/engine/list.js'

/**
 * A coordinator context for `listVersions` whose nodes answer `answers(node, filters)` (a copy
 * each time, as the wire would give); a node the function gives nothing for answers an empty page.
 */
export function nodesAnswering(answers: (node: string, filters: NodeListFilters) => VersionRecord[]) {
  return {
    nodeId: 'coordinator',
    timeouts: { requestMs: 1_000, streamIdleMs: 1_000 },
    transport: {
      listRecords: async (node: string, filters: NodeListFilters) => structuredClone(answers(node, filters)),
    },
  } as never
}
