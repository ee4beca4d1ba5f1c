import { DivisionByZeroError, InvalidNumberError, OverflowError, UnderflowError } from './errors.js'

/** 10^18: one unit in raw form (PROTOCOL.md "BigNum128 (CertifiedMath)"). */
const SCALE = 1_000_000_000_000_000_000n
const FRACTION_DIGITS = 18
const RAW_MAX = (1n << 128n) - 1n
// Integer part of MAX has 21 digits; anything longer is out of range without building a huge BigInt.
const MAX_INTEGER_DIGITS = 21
// One spelling per value class: no sign, exponent, spaces, or leading zeros (but `0.5`), 1..18 fraction
// digits. `[0-9]` and not `\d` so no other script's digits slip in.
const TEXT_RE = /^(0|[1-9][0-9]*)(?:\.([0-9]{1,18}))?$/

function checkRange(raw: bigint): bigint {
  if (raw > RAW_MAX) throw new OverflowError('BigNum128 result above 2^128-1 raw')
  if (raw < 0n) throw new UnderflowError('BigNum128 result below zero')
  return raw
}

/**
 * The unsigned 18-decimal fixed point of QFS's CertifiedMath: `raw / 10^18` with `raw` in
 * `0..2^128-1`. Every amount (ATR fees, NOD pools and rewards) is one of these, never a `number`:
 * all arithmetic is exact bigint arithmetic with one floor per operation, so every
 * implementation of PROTOCOL.md gets the same digits. Values are immutable.
 */
export class BigNum128 {
  static readonly ZERO: BigNum128 = new BigNum128(0n)
  static readonly ONE: BigNum128 = new BigNum128(SCALE)
  static readonly MAX: BigNum128 = new BigNum128(RAW_MAX)

  readonly raw: bigint

  private constructor(raw: bigint) {
    this.raw = raw
    Object.freeze(this)
  }

  /**
   * A value from its raw integer. Below zero is `UNDERFLOW` (the same code `sub` reports for a
   * result below the range), above `2^128-1` is `OVERFLOW`, a non-bigint is `INVALID_NUMBER`.
   */
  static fromRaw(raw: bigint): BigNum128 {
    if (typeof raw !== 'bigint') throw new InvalidNumberError('BigNum128 raw value must be a bigint')
    return new BigNum128(checkRange(raw))
  }

  /** A whole number: a non-negative safe integer or bigint (`INVALID_NUMBER`), in range (`OVERFLOW`). */
  static fromInteger(n: number | bigint): BigNum128 {
    let v: bigint
    if (typeof n === 'bigint') v = n
    else if (typeof n === 'number' && Number.isSafeInteger(n)) v = BigInt(n)
    else throw new InvalidNumberError('BigNum128.fromInteger needs a safe integer or a bigint')
    if (v < 0n) throw new InvalidNumberError('BigNum128 is unsigned: negative integer')
    return new BigNum128(checkRange(v * SCALE))
  }

  /**
   * The strict text form: `2`, `2.0`, `2.50`, `0.5` parse; `02`, `.5`, `2.`, ` 2`, `-1`, `+1`,
   * `1e3`, more than 18 fraction digits, an empty string or a non-string are `INVALID_NUMBER`;
   * a well-formed number above the range is `OVERFLOW`.
   */
  static parse(text: unknown): BigNum128 {
    if (typeof text !== 'string') throw new InvalidNumberError('BigNum128 text must be a string')
    const m = TEXT_RE.exec(text)
    if (m === null) throw new InvalidNumberError('not a strict BigNum128 decimal')
    const intPart = m[1]!
    if (intPart.length > MAX_INTEGER_DIGITS) throw new OverflowError('BigNum128 text above the range')
    const frac = (m[2] ?? '').padEnd(FRACTION_DIGITS, '0')
    return new BigNum128(checkRange(BigInt(intPart) * SCALE + BigInt(frac)))
  }

  /**
   * A BigNum128 handed over as a value or as its text (JSON, the wire); anything else is
   * `INVALID_NUMBER`. Lets functions that take amounts stay total on unknown input.
   */
  static from(value: unknown): BigNum128 {
    if (value instanceof BigNum128) return value
    return BigNum128.parse(value)
  }

  /** `floor(a.raw * b.raw / c.raw)` exactly, as a raw value: a pro-rata share with one rounding. */
  static mulDiv(a: BigNum128, b: BigNum128, c: BigNum128): BigNum128 {
    if (c.raw === 0n) throw new DivisionByZeroError('BigNum128 mulDiv by zero')
    return new BigNum128(checkRange((a.raw * b.raw) / c.raw))
  }

  add(other: BigNum128): BigNum128 {
    return new BigNum128(checkRange(this.raw + other.raw))
  }

  sub(other: BigNum128): BigNum128 {
    return new BigNum128(checkRange(this.raw - other.raw))
  }

  /** `floor(a.raw * b.raw / 10^18)`; bigint division truncates, which is floor for non-negatives. */
  mul(other: BigNum128): BigNum128 {
    return new BigNum128(checkRange((this.raw * other.raw) / SCALE))
  }

  /** `floor(a.raw * 10^18 / b.raw)`. */
  div(other: BigNum128): BigNum128 {
    if (other.raw === 0n) throw new DivisionByZeroError('BigNum128 division by zero')
    return new BigNum128(checkRange((this.raw * SCALE) / other.raw))
  }

  cmp(other: BigNum128): -1 | 0 | 1 {
    return this.raw < other.raw ? -1 : this.raw > other.raw ? 1 : 0
  }

  eq(other: BigNum128): boolean {
    return this.raw === other.raw
  }

  isZero(): boolean {
    return this.raw === 0n
  }

  min(other: BigNum128): BigNum128 {
    return other.raw < this.raw ? other : this
  }

  max(other: BigNum128): BigNum128 {
    return other.raw > this.raw ? other : this
  }

  /** QFS's `to_decimal_string()`: integer part, `.`, exactly 18 fraction digits. */
  toString(): string {
    const intPart = this.raw / SCALE
    const frac = this.raw % SCALE
    return `${intPart}.${frac.toString().padStart(FRACTION_DIGITS, '0')}`
  }

  toJSON(): string {
    return this.toString()
  }
}

export const parseBigNum: (text: unknown) => BigNum128 = BigNum128.parse
