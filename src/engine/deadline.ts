/** A signal bounded by a deadline, and the way to let go of it. */
export interface Deadline {
  readonly signal: AbortSignal
  /** Stops the timer and detaches from the parent signal; `signal` stays as it is. */
  clear(): void
}

/**
 * A signal that aborts when `parent` does (with its reason) or after `ms` (with a `TimeoutError`
 * DOMException, as AbortSignal.timeout does), and that holds nothing once cleared.
 *
 * Not `AbortSignal.any([parent, AbortSignal.timeout(ms)])`: Node 22 keeps such a composite reachable
 * after it aborts when its reason leads back to a source (an error whose stack or cause holds the
 * exchange), and with it everything the exchange held (nodejs/node#54614). One per request made a
 * node keep every refused or reset stream: a peer opening streams in a loop ran it out of heap.
 */
export function deadline(parent: AbortSignal | undefined, ms: number): Deadline {
  const controller = new AbortController()
  const onAbort = () => {
    clearTimeout(timer)
    controller.abort(parent?.reason)
  }
  const timer = setTimeout(() => {
    parent?.removeEventListener('abort', onAbort)
    controller.abort(new DOMException('The operation was aborted due to timeout', 'TimeoutError'))
  }, ms)
  timer.unref()
  if (parent?.aborted === true) onAbort()
  else parent?.addEventListener('abort', onAbort, { once: true })
  return {
    signal: controller.signal,
    clear: () => {
      clearTimeout(timer)
      parent?.removeEventListener('abort', onAbort)
    },
  }
}

/** Runs `run` under `deadline(parent, ms)`, cleared however `run` ends. */
export async function underDeadline<T>(
  parent: AbortSignal | undefined,
  ms: number,
  run: (signal: AbortSignal) => Promise<T>,
): Promise<T> {
  const bounded = deadline(parent, ms)
  try {
    return await run(bounded.signal)
  } finally {
    bounded.clear()
  }
}
