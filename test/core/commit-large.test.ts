import { once } from 'node:events'
import { Worker } from 'node:worker_threads'
import { describe, expect, it } from 'vitest'
import { concatBytes, u32 } from '../../src/core/bytes.js'
import { HashCommitBuilder } from '../../src/core/commit.js'
import { sha3 } from '../../src/core/hash.js'

const MIB = 1024 * 1024
const CHUNKS = 2048 // 2 GiB in all: past 2^31 bytes, where a 32-bit length or offset would wrap
const SCHEMA_VERSION = 1

// The oracle: SHA3-256 by OpenSSL directly (not through src/core/hash.ts), over the same 2048
// chunks and then u32(schema_version) || metadata_seed, in a worker so both 2 GiB hashes run at once.
const ORACLE = `
const { parentPort, workerData } = require('node:worker_threads')
const { createHash } = require('node:crypto')
const h = createHash('sha3-256')
for (let i = 0; i < workerData.chunks; i++) h.update(workerData.chunk)
parentPort.postMessage(h.update(workerData.tail).digest('hex'))
`

/**
 * Issue #2: hash_commit streams content of any size in constant memory. The same 1 MiB buffer is fed
 * 2048 times (nothing is allocated per chunk), the result must equal the formula of PROTOCOL.md
 * computed independently (test/core/commit.test.ts cross-checks the hasher itself against
 * @noble/hashes), and the process's resident memory must not grow with the bytes hashed.
 */
describe('hash_commit of 2 GiB', () => {
  it('matches an independent computation and keeps memory flat', { timeout: 90_000 }, async () => {
    const chunk = new Uint8Array(MIB)
    for (let i = 0; i < chunk.length; i++) chunk[i] = (i * 31 + (i >>> 8)) & 0xff
    const seed = sha3(Uint8Array.of(0x51, 0x46, 0x53))
    const tail = concatBytes([u32(SCHEMA_VERSION), seed])
    const oracle = new Worker(ORACLE, { eval: true, workerData: { chunk, chunks: CHUNKS, tail } })
    const answer = once(oracle, 'message')
    await once(oracle, 'online')

    const builder = new HashCommitBuilder()
    builder.update(chunk)
    const baseline = process.memoryUsage.rss()
    let peak = baseline
    for (let i = 1; i < CHUNKS; i++) {
      builder.update(chunk)
      if (i % 64 === 0) peak = Math.max(peak, process.memoryUsage.rss())
    }
    const digest = Buffer.from(builder.digest(SCHEMA_VERSION, seed)).toString('hex')
    const [expected] = (await answer) as [string]
    peak = Math.max(peak, process.memoryUsage.rss())
    await oracle.terminate()

    expect(builder.bytesHashed).toBe(CHUNKS * MIB)
    expect(digest).toBe(expected)
    expect(peak - baseline).toBeLessThan(64 * MIB)
  })
})
