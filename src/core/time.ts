import { InvalidInputError } from './errors.js'

/**
 * Ticks per epoch by default. Ticks are logical DeterministicTime units, not seconds: nothing in the
 * protocol reads a wall clock, so two replays of one log agree on every epoch. 86 400 only reads
 * as "a day" if ticks happen to be issued once a second; governance may change it like any other
 * protocol constant, and it is then passed in explicitly.
 */
export const DEFAULT_EPOCH_TICKS = 86_400

function checkTick(value: unknown, name: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new InvalidInputError(`${name} must be a safe non-negative integer`)
  }
  return value
}

function checkEpochTicks(value: unknown): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) {
    throw new InvalidInputError('epochTicks must be a safe positive integer')
  }
  return value
}

/** `floor(tick / epochTicks)` in integers only. */
export function epochOf(tick: number, epochTicks: number): number {
  const t = checkTick(tick, 'tick')
  const e = checkEpochTicks(epochTicks)
  // t - t % e is an exact multiple of e below 2^53, so the division is exact in a double.
  return (t - (t % e)) / e
}

/** The first tick of `epoch`; a start beyond the safe tick range is `INVALID_INPUT`. */
export function epochStartTick(epoch: number, epochTicks: number): number {
  const n = checkTick(epoch, 'epoch')
  const e = checkEpochTicks(epochTicks)
  const start = BigInt(n) * BigInt(e)
  if (start > BigInt(Number.MAX_SAFE_INTEGER))
    throw new InvalidInputError('epoch start beyond the tick range')
  return Number(start)
}

export interface DeterministicTimeOptions {
  epochTicks?: number
  tick?: number
}

/**
 * A node's logical clock. It moves only when told: `advance` for local steps, `observe` for a tick
 * seen in a request or snapshot (Lamport style: the clock takes the larger value and never goes
 * back). Ticks stay safe non-negative integers; anything else is `INVALID_INPUT`.
 */
export class DeterministicTime {
  readonly epochTicks: number
  #tick: number

  constructor(opts: DeterministicTimeOptions = {}) {
    if (opts === null || typeof opts !== 'object') throw new InvalidInputError('options must be an object')
    this.epochTicks = checkEpochTicks(opts.epochTicks ?? DEFAULT_EPOCH_TICKS)
    this.#tick = checkTick(opts.tick ?? 0, 'tick')
  }

  now(): number {
    return this.#tick
  }

  epoch(): number {
    return epochOf(this.#tick, this.epochTicks)
  }

  /** Moves forward by `ticks` (default 1) and returns the new tick. */
  advance(ticks = 1): number {
    const step = checkTick(ticks, 'ticks')
    if (step > Number.MAX_SAFE_INTEGER - this.#tick) throw new InvalidInputError('tick beyond the safe range')
    this.#tick += step
    return this.#tick
  }

  /** Takes `max(now, tick)` and returns it: an observed tick never moves the clock back. */
  observe(tick: number): number {
    const seen = checkTick(tick, 'tick')
    if (seen > this.#tick) this.#tick = seen
    return this.#tick
  }
}
