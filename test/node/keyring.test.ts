import { describe, expect, it } from 'vitest'
import { InProcessKeyring } from '../../src/node/keyring.js'

describe('InProcessKeyring', () => {
  it("checks a signature with the named peer's key only: never another node's, never for a peer it has no key of", async () => {
    const keyring = new InProcessKeyring()
    const a = keyring.keysOf('a')
    const b = keyring.keysOf('b')
    const message = new TextEncoder().encode('acceptance')
    const byA = await a.sign(message)
    expect(await b.verify('a', message, byA)).toBe(true)
    expect(await a.verify('a', message, byA)).toBe(true)
    expect(await a.verify('b', message, byA)).toBe(false)
    // A node claiming to be a peer the keyring never made keys for.
    expect(await a.verify('nobody', message, byA)).toBe(false)
    expect(await b.verify('nobody', message, await b.sign(message))).toBe(false)
  })
})
