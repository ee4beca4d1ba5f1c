import { describe, expect, it } from 'vitest'
import { QfsError } from '../../src/core/errors.js'
import { CutShortError, countedCodes, NodeUnavailableError, stageShortfall } from '../../src/engine/errors.js'
import { StorageFullError } from '../../src/store/errors.js'

/**
 * Why a shard staged short (errors.ts): the operator's count of the replicas' codes, and the class
 * of the write's failure. STORAGE_FULL only when every replica that refused said it is full; a
 * replica only cut off (CUT_SHORT) does not decide the class; anything else is QUORUM_NOT_REACHED.
 */
const full = () => new StorageFullError('no room')
const cut = () => new CutShortError('not waited for')
const away = () => new NodeUnavailableError('unreachable')

describe('countedCodes', () => {
  it('counts repeated codes as "x n", names a single one alone, and calls a foreign error INTERNAL', () => {
    const notEligible = () => new QfsError('NOT_ELIGIBLE', 'not in the snapshot')
    expect(countedCodes([notEligible(), notEligible(), notEligible(), new QfsError('TIMEOUT', 't')])).toBe(
      'NOT_ELIGIBLE x3, TIMEOUT',
    )
    expect(countedCodes([new TypeError('a bug')])).toBe('INTERNAL')
    expect(countedCodes([])).toBe('')
  })
})

describe('stageShortfall', () => {
  it('says how many of how many replicas took the shard, with the codes only when there are any', () => {
    expect(stageShortfall(2, 1, 3, []).message).toBe('shard 2 reached 1 of 3 replicas')
    expect(stageShortfall(0, 0, 3, [away(), full()]).message).toBe(
      'shard 0 reached 0 of 3 replicas (NODE_UNAVAILABLE, STORAGE_FULL)',
    )
  })

  it('is STORAGE_FULL when every replica that refused is full, a cut-off one aside', () => {
    expect(stageShortfall(0, 1, 3, [full(), full()]).code).toBe('STORAGE_FULL')
    expect(stageShortfall(0, 1, 3, [full(), cut()]).code).toBe('STORAGE_FULL')
  })

  it('is QUORUM_NOT_REACHED when one replica failed otherwise, or when none refused at all', () => {
    expect(stageShortfall(0, 1, 3, [full(), away()]).code).toBe('QUORUM_NOT_REACHED')
    expect(stageShortfall(0, 1, 3, [cut(), cut()]).code).toBe('QUORUM_NOT_REACHED')
    expect(stageShortfall(0, 1, 3, []).code).toBe('QUORUM_NOT_REACHED')
  })
})
