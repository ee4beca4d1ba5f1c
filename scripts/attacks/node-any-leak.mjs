// Standalone repro (no qfs code): npx node --expose-gc scripts/attacks/node-any-leak.mjs 1000 ref|plain
// AbortSignal.any([failed.signal, AbortSignal.timeout(T)]) aborted by `failed` with a reason that (like an
// Error whose stack frames hold the exchange) references `failed`: is the composite ever collected?
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))
const refs = [],
  ctrls = []
const T = Number(process.argv[2] ?? 1000),
  refReason = process.argv[3] === 'ref'
for (let i = 0; i < 5000; i++) {
  const failed = new AbortController()
  const s = AbortSignal.any([failed.signal, AbortSignal.timeout(T)])
  refs.push(new WeakRef(s))
  ctrls.push(failed)
}
await sleep(20)
for (const failed of ctrls)
  failed.abort(refReason ? Object.assign(new Error('reset'), { exchange: { failed } }) : new Error('reset'))
ctrls.length = 0
for (let k = 0; k < 6; k++) {
  await sleep(T / 2 + 200)
  globalThis.gc()
}
console.log(
  process.version,
  `timeout ${T} ms, reason ${refReason ? 'references the controller' : 'plain'}: alive composites`,
  refs.filter((r) => r.deref() !== undefined).length,
  'of',
  refs.length,
  `after ${((6 * (T / 2 + 200)) / 1000).toFixed(1)} s`,
)
