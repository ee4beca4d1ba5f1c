import { constants } from 'node:os'
import { CliExit } from './io.js'

/**
 * The signals that ask a command to stop: Ctrl-C (SIGINT), a supervisor or `kill` (SIGTERM) and a
 * terminal that went away (SIGHUP). A command that started something (a network, a temporary file)
 * catches them, undoes what it started and exits as if the signal had ended it.
 */
export const INTERRUPT_SIGNALS: readonly NodeJS.Signals[] = Object.freeze(['SIGINT', 'SIGTERM', 'SIGHUP'])

/** 128 + the signal's number: what a shell reports for a process that signal ended (130, 143, 129). */
export function interruptedStatus(signal: NodeJS.Signals): number {
  return 128 + constants.signals[signal]
}

let interruptedBy: NodeJS.Signals | undefined

/**
 * The exit of a command that cleaned up after `signal`. Its status is what a shell shows for that
 * signal; the process entry point then ends by the signal itself (`endByInterrupt`).
 */
export function interruptedExit(signal: NodeJS.Signals): CliExit {
  interruptedBy = signal
  return new CliExit(interruptedStatus(signal))
}

/**
 * Ends the process by the signal that interrupted its command, once the command has cleaned up: a
 * shell then sees a process that signal ended, and a loop of commands stops at Ctrl-C, where an exit
 * status of 130 reads as "the command handled it" and the loop goes on. Only the process entry point
 * (bin/qfs-node.js) calls it, never a caller of `main` in process. Nothing happens when no command
 * was interrupted.
 */
export function endByInterrupt(): void {
  const signal = interruptedBy
  if (signal === undefined) return
  process.removeAllListeners(signal)
  process.kill(process.pid, signal)
}

export interface InterruptWatch {
  /** The first signal received, once one was. */
  readonly received: NodeJS.Signals | undefined
  /** Resolves with the first signal received. */
  readonly signalled: Promise<NodeJS.Signals>
  /** Aborted at the first signal, for calls that take an AbortSignal. */
  readonly abort: AbortSignal
  /** Removes the handlers: from then on the signals have their default action again. */
  dispose(): void
}

/**
 * Catches INTERRUPT_SIGNALS until `dispose()`. Repeats are ignored while the handlers stay
 * installed: the cleanup a command runs after the first signal is never cut short by a second
 * (npm, npx and the Node 20 re-exec wrapper forward a Ctrl-C the terminal also sent to the whole
 * process group, so one Ctrl-C often arrives twice).
 */
export function watchInterrupts(): InterruptWatch {
  const controller = new AbortController()
  let received: NodeJS.Signals | undefined
  let resolve: (signal: NodeJS.Signals) => void = () => {}
  const signalled = new Promise<NodeJS.Signals>((r) => {
    resolve = r
  })
  const onSignal = (signal: NodeJS.Signals) => {
    if (received !== undefined) return
    received = signal
    controller.abort(signal)
    resolve(signal)
  }
  for (const signal of INTERRUPT_SIGNALS) process.on(signal, onSignal)
  return {
    get received() {
      return received
    },
    signalled,
    abort: controller.signal,
    dispose: () => {
      for (const signal of INTERRUPT_SIGNALS) process.off(signal, onSignal)
    },
  }
}
