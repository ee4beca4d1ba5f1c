import { inProcessHarness } from './harness.js'
import { describeEngine } from './suite.js'

describeEngine('the in-process transport', () => inProcessHarness(5))
