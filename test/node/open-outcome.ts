import { DEFAULT_PARAMS } from '../../src/core/params.js'
import { openLocal } from '../../src/daemon/open-local.js'
import { StaticMembership } from '../../src/membership/static.js'
import { InProcessKeyring } from '../../src/node/keyring.js'
import type { LocalNode } from '../../src/node/local-node.js'

/** What opening a node came to: 'opened' (and it is closed again), or the refusal's code. */
export const openOutcome = (p: Promise<{ close(): Promise<void> }>): Promise<string> =>
  p.then(
    async (node) => {
      await node.close()
      return 'opened'
    },
    (err: { code?: string }) => err.code ?? String(err),
  )

/** node-1's directory opened the way the daemon's start opens it (`openLocal`, which names failures). */
export function openLocalAsDaemon(nodeDir: string): Promise<LocalNode> {
  const membership = new StaticMembership({ nodes: ['node-1'], params: DEFAULT_PARAMS })
  return openLocal(
    'node-1',
    nodeDir,
    DEFAULT_PARAMS,
    undefined as never,
    {},
    membership,
    new InProcessKeyring().keysOf('node-1'),
  )
}
