/** What opening a node came to: 'opened' (and it is closed again), or the refusal's code. */
export const openOutcome = (p: Promise<{ close(): Promise<void> }>): Promise<string> =>
  p.then(
    async (node) => {
      await node.close()
      return 'opened'
    },
    (err: { code?: string }) => err.code ?? String(err),
  )
