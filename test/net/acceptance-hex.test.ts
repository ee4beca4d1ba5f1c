/**
 * docs/protocol.md 4.7: an acceptance travels as lower-case hex of even length, 2 to 1024
 * characters, in a commit's `acceptances[].signature` and in a home's `acceptance` answer alike;
 * anything else is INVALID_INPUT. A node of another implementation must hex-encode its Ed25519
 * signature (64 bytes, 128 characters) exactly so.
 */
import { describe, expect, it } from 'vitest'
import { parseCommitRequest, parseCommitResult } from '../../src/net/messages.js'
import { qfsErrorCode as codeOf } from '../helpers/qfs-error-code.js'

const ID = 'cd'.repeat(32)
const request = (signature: unknown) => () =>
  parseCommitRequest({ record: {}, staged: [], acceptances: [{ node_id: 'home-a', signature }] })
const answer = (acceptance: unknown) => () =>
  parseCommitResult({
    node_id: 'home-a',
    event_id: ID,
    idempotent: false,
    home: true,
    shard_ids: [],
    acceptance,
  })

describe('acceptance hex (docs/protocol.md 4.7)', () => {
  const taken = ['00', 'ab'.repeat(64), 'f'.repeat(1024)]
  const refused = ['', '0', 'abc', 'f'.repeat(1023), 'f'.repeat(1026), 'AB', 'ab cd', 'zz', 12, null]

  it.each(taken.map((s) => [s.length, s]))(
    'takes %i characters of lower-case hex in both places',
    (_n, hex) => {
      expect(codeOf(request(hex))).toBe('NO_ERROR')
      expect(codeOf(answer(hex))).toBe('NO_ERROR')
    },
  )

  it.each(refused.map((s) => [JSON.stringify(s).slice(0, 20), s]))(
    'refuses %s in both places',
    (_what, bad) => {
      expect(codeOf(request(bad))).toBe('INVALID_INPUT')
      expect(codeOf(answer(bad))).toBe('INVALID_INPUT')
    },
  )
})
