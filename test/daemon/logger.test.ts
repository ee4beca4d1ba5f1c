import { describe, expect, it } from 'vitest'
import { createLogger } from '../../src/daemon/logger.js'

describe('createLogger', () => {
  it('writes one JSON line per entry at or above its level, with the level by name', () => {
    const lines: string[] = []
    const log = createLogger('warn', (line) => lines.push(line))
    log.info('not shown')
    log.warn({ peer: 'p' }, 'shown')
    expect(lines).toHaveLength(1)
    expect(JSON.parse(lines[0]!)).toMatchObject({ level: 'warn', name: 'qfs-node', peer: 'p', msg: 'shown' })
    const silent: string[] = []
    createLogger('silent', (line) => silent.push(line)).error('never')
    expect(silent).toEqual([])
  })
})
