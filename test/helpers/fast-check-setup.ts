import fc from 'fast-check'

// fast-check 4 draws lengths from its "small" size (at most about 10 elements) whatever maxLength
// a property names, so `fc.uint8Array({ maxLength: 9000 })` never went past 10 bytes: a property
// reaches the bounds it states only with this setting (found by a mutation pass: a multi-part hash
// property never crossed the 512-byte switch it was written for).
fc.configureGlobal({ defaultSizeToMaxWhenMaxSpecified: true })
