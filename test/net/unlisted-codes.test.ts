/**
 * docs/protocol.md section 5: a code the table does not list still reaches a client (a node keeps the
 * code of its own errors) with its class, so a client handles a code it does not know by its
 * `error_code`; an internal one comes as SE_ERR_INTERNAL with the detail `internal error`, and an
 * error that is not one of the node's own is `INTERNAL`. Both as an ERROR frame and as a Failure.
 */
import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { QfsError, storageErrorCode } from '../../src/core/errors.js'
import { failure, safeDetail } from '../../src/engine/responses.js'
import { LogNotOpenError } from '../../src/log/errors.js'
import { encodeErrorFrame, FrameDecoder, frameBytes, wireErrorOf } from '../../src/net/frames.js'

const doc = readFileSync(new URL('../../docs/protocol.md', import.meta.url), 'utf8')
/** The rows of the section 5 table (the prose around it names LOG_NOT_OPEN as an example). */
const table = doc
  .slice(doc.indexOf('## 5. Errors'), doc.indexOf('## 6.'))
  .split('\n')
  .filter((line) => line.startsWith('| `'))
  .join('\n')
const SECRET = 'append on /var/lib/qfs/log: EBADF'

/** An error as a client reads it from an ERROR frame. */
function onTheWire(err: unknown) {
  const [frame] = new FrameDecoder().push(frameBytes(encodeErrorFrame(wireErrorOf(err, storageErrorCode))))
  if (frame?.type !== 'error') throw new Error('expected an ERROR frame')
  return frame.error
}

describe('codes outside the section 5 table', () => {
  it.each([
    ['LOG_NOT_OPEN', new LogNotOpenError(SECRET)],
    ['A_LATER_CODE', new QfsError('A_LATER_CODE', SECRET)],
  ])('%s keeps its code, with SE_ERR_INTERNAL and the detail "internal error"', (code, err) => {
    expect(table).not.toContain(`\`${code}\``)
    const expected = { code, error_code: 'SE_ERR_INTERNAL', error_detail: 'internal error' }
    expect(onTheWire(err)).toEqual(expected)
    expect(failure(err, null)).toEqual({ ok: false, ...expected, storage_event_id: null })
  })

  it('an error that is not a node error is INTERNAL / SE_ERR_INTERNAL, "internal error"', () => {
    const expected = { code: 'INTERNAL', error_code: 'SE_ERR_INTERNAL', error_detail: 'internal error' }
    expect(onTheWire(new TypeError(SECRET))).toEqual(expected)
    expect(failure(new TypeError(SECRET), null)).toEqual({ ok: false, ...expected, storage_event_id: null })
  })
})

describe('details of SE_ERR_INTERNAL codes (docs/protocol.md section 5)', () => {
  const prose = doc
    .slice(doc.indexOf('## 5. Errors'), doc.indexOf('| code |', doc.indexOf('## 5. Errors')))
    .replace(/\s+/g, ' ')
  /** The codes the doc says carry "a fixed sentence saying so" instead of `internal error`. */
  const sentenced = (() => {
    const m = /\(`internal error`; for (.*?) a fixed sentence saying so\)/.exec(prose)
    if (m === null) throw new Error('section 5 no longer lists the codes with a fixed sentence')
    return [...m[1]!.matchAll(/`([A-Z_]+)`/g)].map((c) => c[1]!)
  })()

  it('gives the listed codes a fixed sentence of their own, never the message', () => {
    expect(sentenced.sort()).toEqual([
      'NODE_UNAVAILABLE',
      'READ_TOO_SLOW',
      'STREAM_ENDED',
      'TIMEOUT',
      'WRITE_OUTCOME_UNKNOWN',
      'WRITE_TOO_SLOW',
    ])
    const sentences = sentenced.map((code) => safeDetail(new QfsError(code, SECRET)))
    for (const [i, sentence] of sentences.entries()) {
      expect(sentence, sentenced[i]).not.toContain('/var/lib')
      expect(sentence, sentenced[i]).not.toBe('internal error')
      expect(safeDetail(new QfsError(sentenced[i]!, 'another message'))).toBe(sentence)
    }
    expect(new Set(sentences).size).toBe(sentenced.length)
  })

  it('gives every other SE_ERR_INTERNAL code of the table "internal error"', () => {
    const internal = [...table.matchAll(/^\| `([A-Z_]+)` \| `SE_ERR_INTERNAL`/gm)].map((m) => m[1]!)
    const others = internal.filter((code) => !sentenced.includes(code))
    expect(others).toEqual(expect.arrayContaining(['STORE_CLOSED', 'LOG_WRITE_FAILED', 'INTERNAL']))
    for (const code of others) expect(safeDetail(new QfsError(code, SECRET)), code).toBe('internal error')
  })
})
