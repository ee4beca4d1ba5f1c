/**
 * One setting's value from where it was given (file, variable or flag), checked and converted: text,
 * lists, multiaddrs, hosts, tokens, integers, booleans and trusted authority keys. A bad value fails
 * through the `fail` its caller hands in, which names the field and the source.
 */
import { isIP } from 'node:net'
import { multiaddr } from '@multiformats/multiaddr'
import { resolveTrustedKey } from './authority-key.js'
import { type ConfigSource, InvalidConfigError } from './errors.js'

/** A setting's value as given, and where it was given. */
export interface Setting {
  value: unknown
  source: ConfigSource
  /** Where, for messages: the file path, the variable or the flag. */
  where: string
  /** Base directory of relative paths in this value. */
  base: string
}

export function text(s: Setting, fail: (p: string) => never): string {
  if (typeof s.value !== 'string' || s.value === '') fail('must be a non-empty string')
  return s.value as string
}

/** A list: a JSON array in the file, comma-separated in a variable, repeated or comma-separated flags. */
function list(s: Setting, fail: (p: string) => never): string[] {
  const v = s.value
  if (s.source === 'file') {
    if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) fail('must be an array of strings')
    return v as string[]
  }
  const parts = (Array.isArray(v) ? v : [v]).flatMap((x) => (typeof x === 'string' ? x.split(',') : [x]))
  if (!parts.every((x) => typeof x === 'string')) fail('must be a list of strings')
  return (parts as string[]).map((x) => x.trim()).filter((x) => x !== '')
}

/** The first component of an address the TCP transport takes: an IP address or a DNS name. */
const TCP_HOSTS = new Set(['ip4', 'ip6', 'dns', 'dns4', 'dns6'])

/**
 * Addresses the node listens on (`listen`) or tells its peers to dial (`announce`). The node and its
 * peers have the TCP transport only, so both are `/<ip4|ip6|dns|dns4|dns6>/<host>/tcp/<port>`,
 * optionally with the node's `/p2p/<id>`: a `/ws`, `/tls` or `/p2p-circuit` address would pass
 * here and fail only once the store is open (no transport for it) or when a peer dials it.
 */
export function multiaddrs(s: Setting, fail: (p: string) => never, listen: boolean): string[] {
  const addrs = list(s, fail)
  if (listen && addrs.length === 0) fail('at least one listen multiaddr is required')
  for (const a of addrs) {
    let names: string[]
    try {
      names = multiaddr(a)
        .getComponents()
        .map((c) => c.name)
    } catch {
      fail(`${JSON.stringify(a)} is not a multiaddr`)
    }
    const tcp =
      (names.length === 2 || (names.length === 3 && names[2] === 'p2p')) &&
      TCP_HOSTS.has(names[0]!) &&
      names[1] === 'tcp'
    if (!tcp) {
      fail(
        `${a} is not a TCP address (the node has the TCP transport only: /ip4|ip6|dns|dns4|dns6/<host>/tcp/<port>, optionally /p2p/<id>)`,
      )
    }
  }
  return addrs
}

const HOSTNAME_RE =
  /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/

export function host(s: Setting, fail: (p: string) => never): string {
  const v = text(s, fail)
  if (isIP(v) === 0 && !HOSTNAME_RE.test(v)) fail(`${JSON.stringify(v)} is not an IP address or host name`)
  return v
}

export function token(s: Setting, fail: (p: string) => never): string {
  const v = text(s, fail)
  // Visible ASCII only: it travels in an HTTP header; 16+ characters so it is not guessable.
  if (!/^[\x21-\x7e]{16,1024}$/.test(v)) fail('must be 16..1024 visible ASCII characters')
  return v
}

export function integer(s: Setting, fail: (p: string) => never, min: number, max: number): number {
  let v = s.value
  // Plain decimal, as the CLI's own integer arguments: `0080` and `3e4` are refused, not read.
  if (typeof v === 'string' && s.source !== 'file') v = /^(0|[1-9]\d{0,15})$/.test(v) ? Number(v) : Number.NaN
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min || v > max) {
    fail(`must be an integer in ${min}..${max}`)
  }
  return v as number
}

export function bool(s: Setting, fail: (p: string) => never): boolean {
  const v = s.value
  if (typeof v === 'boolean') return v
  if (s.source !== 'file' && typeof v === 'string') {
    if (v === 'true' || v === '1') return true
    if (v === 'false' || v === '0') return false
  }
  return fail(s.source === 'file' ? 'must be true or false' : 'must be true, false, 1 or 0')
}

/** Trusted authority keys: hex, or paths to files holding one (relative to where they were given). */
export async function trusted(s: Setting | undefined): Promise<string[]> {
  if (s === undefined) return []
  const fail = (problem: string, field = 'trusted_authorities'): never => {
    throw new InvalidConfigError(field, s.source, problem, s.where)
  }
  const out = new Set<string>()
  for (const [i, entry] of list(s, fail).entries()) {
    try {
      out.add(await resolveTrustedKey(entry, s.base))
    } catch (err) {
      fail((err as Error).message, `trusted_authorities[${i}]`)
    }
  }
  return [...out]
}
