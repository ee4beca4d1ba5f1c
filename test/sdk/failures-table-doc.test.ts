/**
 * docs/sdk.md "Failures" is the table a program switches on: each `code (SE_ERR_*)` row must give the
 * class the SDK answers with, and a code listed without its class must be one docs/protocol.md
 * section 5 gives. Read from both docs.
 */
import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { QfsError, storageErrorCode } from '../../src/core/errors.js'
import { ContentSourceError } from '../../src/net/dial.js'
import { ClientClosedError } from '../../src/sdk/errors.js'

const read = (path: string) => readFileSync(new URL(path, import.meta.url), 'utf8')
const sdkDoc = read('../../docs/sdk.md')
const section = sdkDoc.slice(sdkDoc.indexOf('## Failures'), sdkDoc.indexOf('`failureCause(answer)`'))
const rows = section
  .split('\n')
  .filter((line) => line.startsWith('| `'))
  .map((line) => line.split(' | ')[0]!)
const classed = rows.flatMap((cell) => {
  const cls = /\(`(SE_ERR_[A-Z_]+)`\)/.exec(cell)?.[1]
  return cls === undefined
    ? []
    : [...cell.matchAll(/`([A-Z_]+)`/g)]
        .filter((m) => !m[1]!.startsWith('SE_ERR_'))
        .map((m) => ({ code: m[1]!, cls }))
})
const unclassed = rows
  .filter((cell) => !cell.includes('SE_ERR_'))
  .flatMap((cell) => [...cell.matchAll(/`([A-Z_]+)`/g)].map((m) => m[1]!))
const protocolDoc = read('../../docs/protocol.md')
const protocolTable = protocolDoc.slice(protocolDoc.indexOf('## 5. Errors'), protocolDoc.indexOf('## 6.'))

describe('docs/sdk.md Failures table', () => {
  it('has rows with and without a class', () => {
    expect(classed.map((r) => r.code)).toEqual(
      expect.arrayContaining([
        'NODE_UNAVAILABLE',
        'CLIENT_CLOSED',
        'CONTENT_SOURCE_FAILED',
        'VERSION_CONFLICT',
      ]),
    )
    expect(unclassed).toEqual(expect.arrayContaining(['NOT_FOUND', 'STORAGE_FULL']))
  })

  it('gives each code the SE_ERR_* class the SDK answers with', () => {
    const errorOf = (code: string) =>
      code === 'CLIENT_CLOSED'
        ? new ClientClosedError('closed')
        : code === 'CONTENT_SOURCE_FAILED'
          ? new ContentSourceError(undefined, { cause: new Error('source threw') })
          : new QfsError(code, 'x')
    const drift = classed.filter((r) => storageErrorCode(errorOf(r.code)) !== r.cls)
    expect(drift).toEqual([])
  })

  it('sends every code it lists without a class to docs/protocol.md section 5, which lists it', () => {
    expect(
      unclassed.filter(
        (code) => !protocolTable.includes(`| \`${code}\``) && !protocolTable.includes(`\`${code}\`,`),
      ),
    ).toEqual([])
  })
})
