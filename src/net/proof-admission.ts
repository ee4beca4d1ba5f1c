import { Admission, type Admitted } from './admission.js'
import { type Limits, perAddressShare } from './protocols.js'
import { type ReadRateLimits, readRule } from './read-admission.js'

export type ProofLimits = Pick<Limits, 'maxConcurrentProofs'> & ReadRateLimits

/** One admitted `get_proof`: its slot, and the clock of the time its answer waits for the client. */
export type AdmittedProof = Admitted

/**
 * The public `get_proof` exchanges a node serves at once (docs/protocol.md 4.4). An answer carries a
 * base64 block (about 350 KB at the default 256 KiB blocks) that the node holds, as the answer and as
 * its encoded frame, until the client takes it: a client that sent requests and never read the
 * answers had the node hold one per stream for the idle timeout and after (600 streams over 3
 * key-less connections ran a node out of heap within seconds in an adversarial session). Proofs
 * share the read rule (a block of content going out, 4.3): the same minimum rate, and slots that move
 * from an address whose clients keep the node waiting to a newcomer from another, so one client
 * holding every slot with answers it never takes cannot lock auditors out.
 */
export class ProofAdmission extends Admission {
  /** `now` is a monotonic clock in ms (an observation for a timeout, never protocol data). */
  constructor(limits: ProofLimits, now?: () => number) {
    const cap = limits.maxConcurrentProofs
    super(
      readRule(
        limits,
        cap,
        `this node already serves ${cap} proofs; retry later or ask another node`,
        perAddressShare(cap),
      ),
      now,
    )
  }

  /** Proofs holding a slot now. */
  get activeProofs(): number {
    return this.admitted
  }
}
