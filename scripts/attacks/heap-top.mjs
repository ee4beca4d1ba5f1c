// Top object kinds of a V8 heap snapshot by count and self size, and for NAME (argv[3]) who retains them.
// Usage: npx node --max-old-space-size=4096 scripts/attacks/heap-top.mjs <file.heapsnapshot> [NAME]
import { loadSnapshot } from './heap-snapshot.mjs'

const { nodes, edges, strings, types, etypes, N, E, iType, iName, iSize, iEdges, eType, eName, eTo } =
  loadSnapshot(process.argv[2])
const agg = new Map()
for (let i = 0; i < nodes.length; i += N) {
  const k = `${types[nodes[i + iType]]}:${strings[nodes[i + iName]].slice(0, 60)}`
  const a = agg.get(k) ?? [0, 0]
  a[0]++
  a[1] += nodes[i + iSize]
  agg.set(k, a)
}
console.log('top by self size:')
for (const [k, [c, s]] of [...agg].sort((x, y) => y[1][1] - x[1][1]).slice(0, 25))
  console.log(`${(s / 1048576).toFixed(1)} MiB  ${c}  ${k}`)
console.log('top by count:')
for (const [k, [c, s]] of [...agg].sort((x, y) => y[1][0] - x[1][0]).slice(0, 25))
  console.log(`${c}  ${(s / 1048576).toFixed(1)} MiB  ${k}`)
const want = process.argv[3]
if (want) {
  // retainers: edges pointing at nodes named `want`, grouped by (retainer name, edge name)
  const target = new Set()
  for (let i = 0; i < nodes.length; i += N) if (strings[nodes[i + iName]] === want) target.add(i)
  const ret = new Map()
  let e = 0
  for (let i = 0; i < nodes.length; i += N) {
    const cnt = nodes[i + iEdges]
    for (let j = 0; j < cnt; j++, e += E) {
      if (!target.has(edges[e + eTo])) continue
      const et = etypes[edges[e + eType]]
      const en = et === 'element' || et === 'hidden' ? `[${et}]` : strings[edges[e + eName]]
      const k = `${types[nodes[i + iType]]}:${strings[nodes[i + iName]].slice(0, 50)} --${en}-->`
      ret.set(k, (ret.get(k) ?? 0) + 1)
    }
  }
  console.log(`retainers of ${want} (${target.size}):`)
  for (const [k, c] of [...ret].sort((x, y) => y[1] - x[1]).slice(0, 20)) console.log(`${c}  ${k}`)
}
// PATH=1: the shortest strong path from the GC roots to a few instances of NAME (weak edges skipped)
if (want && process.env.PATH_TO) {
  const count = nodes.length / N
  const first = new Uint32Array(count + 1)
  for (let i = 0, e = 0; i < count; i++) {
    first[i] = e
    e += nodes[i * N + iEdges] * E
  }
  first[count] = edges.length
  const prev = new Int32Array(count).fill(-1),
    prevEdge = new Int32Array(count).fill(-1)
  const queue = new Uint32Array(count)
  let qh = 0,
    qt = 0
  queue[qt++] = 0
  prev[0] = 0
  while (qh < qt) {
    const i = queue[qh++]
    for (let e = first[i]; e < first[i + 1]; e += E) {
      if (etypes[edges[e + eType]] === 'weak') continue
      const to = edges[e + eTo] / N
      if (prev[to] !== -1) continue
      prev[to] = i
      prevEdge[to] = e
      queue[qt++] = to
    }
  }
  const label = (i) => `${types[nodes[i * N + iType]]}:${strings[nodes[i * N + iName]].slice(0, 40)}`
  const seen = new Map()
  for (let i = 0; i < count; i++) {
    if (strings[nodes[i * N + iName]] !== want || types[nodes[i * N + iType]] !== 'object') continue
    const path = []
    for (let k = i; k !== 0 && prev[k] !== -1 && path.length < 40; k = prev[k]) {
      const e = prevEdge[k]
      const et = etypes[edges[e + eType]]
      path.push(
        `${label(prev[k])} -${et === 'element' || et === 'hidden' ? `[${edges[e + eName]}]` : strings[edges[e + eName]]}->`,
      )
    }
    const key = path.reverse().join(' ')
    seen.set(key, (seen.get(key) ?? 0) + 1)
  }
  for (const [k, c] of [...seen].sort((x, y) => y[1] - x[1]).slice(0, 4)) console.log(`${c}x: ${k}\n`)
}
