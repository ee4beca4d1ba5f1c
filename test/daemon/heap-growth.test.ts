import { describe, expect, it } from 'vitest'
import { applyDaemonHeapGrowth } from '../../src/daemon/heap-growth.js'

describe('applyDaemonHeapGrowth', () => {
  it('leaves a heap growth chosen on the node command line alone', () => {
    expect(applyDaemonHeapGrowth(['--max-old-space-size=128', '--heap-growing-percent=50'])).toBe(false)
    expect(applyDaemonHeapGrowth(['--heap-growing-percent', '50'])).toBe(false)
  })

  it('sets it otherwise (the V8 flag is accepted at run time)', () => {
    expect(applyDaemonHeapGrowth(['--max-semi-space-size=1'])).toBe(true)
  })
})
