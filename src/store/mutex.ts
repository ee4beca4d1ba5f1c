/**
 * A FIFO lock for one process. The node holds one as its single-writer lock: every read-modify-write
 * of the store's index and counters (and the log append that shares their batch) runs inside it, so
 * a prepared commit is never based on state another writer is about to change.
 */
export class Mutex {
  private tail: Promise<void> = Promise.resolve()
  private holders = 0

  /** True while some caller holds (or waits for) the lock. */
  get locked(): boolean {
    return this.holders > 0
  }

  /** Resolves with the release function once every earlier caller has released. */
  acquire(): Promise<() => void> {
    this.holders++
    let release!: () => void
    const released = new Promise<void>((resolve) => {
      release = resolve
    })
    const previous = this.tail
    this.tail = previous.then(() => released)
    let done = false
    return previous.then(() => () => {
      if (done) return
      done = true
      this.holders--
      release()
    })
  }

  /** Runs `fn` holding the lock; the lock is released whether `fn` resolves or throws. */
  async run<T>(fn: () => Promise<T> | T): Promise<T> {
    const release = await this.acquire()
    try {
      return await fn()
    } finally {
      release()
    }
  }
}
