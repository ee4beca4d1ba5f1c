import { ListingAdmission } from '../../src/net/listing-admission.js'
import { ProofAdmission } from '../../src/net/proof-admission.js'
import { ReadAdmission } from '../../src/net/read-admission.js'
import type { PublicPolicy } from '../../src/net/serve-public.js'
import { WriteAdmission } from '../../src/net/write-admission.js'

/**
 * A public policy for serving tests: one read at a time, 1 s of grace, then 1000 bytes (one test
 * block) per second of waiting; one write, 1-byte content.
 */
export function oneReadPolicy(): PublicPolicy & { reads: ReadAdmission } {
  return {
    maxContentBytes: 1,
    writes: new WriteAdmission({ maxConcurrentWrites: 1, writeMinDeadlineMs: 1, writeMinBytesPerSecond: 1 }),
    reads: new ReadAdmission(
      { maxConcurrentReads: 1, readMinDeadlineMs: 1_000, readMinBytesPerSecond: 1_000 },
      () => Date.now(),
    ),
    listings: new ListingAdmission(
      { maxConcurrentListings: 1, readMinDeadlineMs: 1_000, readMinBytesPerSecond: 1_000 },
      () => Date.now(),
    ),
    proofs: new ProofAdmission({
      maxConcurrentProofs: 1,
      readMinDeadlineMs: 1_000,
      readMinBytesPerSecond: 1_000,
    }),
  }
}
