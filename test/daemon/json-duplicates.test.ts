import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { firstDuplicateKey } from '../../src/daemon/json-duplicates.js'

describe('firstDuplicateKey', () => {
  it('names the first key an object holds twice, with the keys of the objects around it', () => {
    expect(firstDuplicateKey('{"a":1,"a":2}')).toBe('a')
    expect(firstDuplicateKey('{"api":{"port":0},"api":{"port":5}}')).toBe('api')
    expect(firstDuplicateKey('{"limits":{"x":1,"y":{"z":[1,{"q":1}],"z":2}}}')).toBe('limits.y.z')
    expect(firstDuplicateKey('{ "a" : 1 ,\n  "\\u0061" : 2 }')).toBe('a')
    expect(firstDuplicateKey('[{"k":1},{"k":2,"k":3}]')).toBe('k')
  })

  it('is not misled by strings, escapes, arrays or equal keys in different objects', () => {
    expect(firstDuplicateKey('{"a":"{\\"a\\":1,","b":["a","a"],"c":{"a":1},"d":{"a":2}}')).toBeUndefined()
    expect(firstDuplicateKey('{"x\\\\":1,"x":2,"y":"}\\"","z":{}}')).toBeUndefined()
    expect(firstDuplicateKey('[]')).toBeUndefined()
    expect(firstDuplicateKey('"a"')).toBeUndefined()
    expect(firstDuplicateKey('{}')).toBeUndefined()
  })

  it('ends on a string left open, even behind an escape, instead of scanning past the text', () => {
    for (const text of ['{"a', '{"a\\', '{"a":1,"b\\"', '"', '{"a":"\\']) {
      expect(firstDuplicateKey(text)).toBeUndefined()
    }
    expect(firstDuplicateKey('{"a":1,"a":"open')).toBe('a')
  })

  it('finds nothing in what JSON.stringify writes, and finds a key written twice into it', () => {
    // JSON.stringify never repeats a key; `"k":null,` put in front of an object whose first key
    // is k repeats it, whatever the object holds (strings with brackets, quotes, nesting).
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        const text = JSON.stringify(value)
        expect(firstDuplicateKey(text)).toBeUndefined()
        if (value === null || typeof value !== 'object' || Array.isArray(value)) return
        const first = Object.keys(value)[0]
        if (first === undefined) return
        const doubled = `{${JSON.stringify(first)}:null,${text.slice(1)}`
        expect(JSON.parse(doubled)).toBeDefined()
        expect(firstDuplicateKey(doubled)).toBe(first)
      }),
      { seed: 20261127, numRuns: 300 },
    )
  })
})
