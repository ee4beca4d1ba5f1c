import { QfsError } from '../../src/core/errors.js'

/**
 * The code of the QfsError `fn` throws, or 'NO_ERROR' when it returns. Any other throw (a
 * TypeError from a missed check) is rethrown: a refusal must come with one of our codes.
 */
export function qfsErrorCode(fn: () => unknown): string {
  try {
    fn()
  } catch (err) {
    if (err instanceof QfsError) return err.code
    throw err
  }
  return 'NO_ERROR'
}
