import { describeEngine } from '../engine/suite.js'
import { libp2pHarness } from './harness.js'

describeEngine('the libp2p transport', () => libp2pHarness(5))
