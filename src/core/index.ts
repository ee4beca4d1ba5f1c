/**
 * The protocol core: every PROTOCOL.md formula, pure and total. The rest of the node imports the core
 * through this module; the core imports nothing else from `src`.
 */
export * from './atr.js'
export * from './bignum.js'
export * from './bytes.js'
export * from './canonical.js'
export * from './challenge.js'
export * from './commit.js'
export * from './errors.js'
export * from './hash.js'
export * from './ids.js'
export * from './merkle.js'
export * from './metadata.js'
export * from './params.js'
export * from './placement.js'
export * from './proof.js'
export * from './record.js'
export * from './rewards.js'
export * from './shards.js'
export * from './time.js'
