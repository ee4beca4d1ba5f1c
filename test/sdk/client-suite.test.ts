import { describeEngine } from '../engine/suite.js'
import { clientHarness } from './harness.js'

describeEngine('QfsClient over libp2p', () => clientHarness(5))
