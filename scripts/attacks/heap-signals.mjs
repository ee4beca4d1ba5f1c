// Heap snapshot: the AbortSignals pinned in Node's gcPersistentSignals, their reasons and one retained example.
// Usage: npx node --max-old-space-size=6000 scripts/attacks/heap-signals.mjs <file.heapsnapshot>
import { loadSnapshot } from './heap-snapshot.mjs'

const { nodes, edges, strings, types, etypes, N, E, iType, iName, iEdges, eType, eName, eTo } = loadSnapshot(
  process.argv[2],
)
const count = nodes.length / N
const first = new Uint32Array(count + 1)
for (let i = 0, e = 0; i < count; i++) {
  first[i] = e
  e += nodes[i * N + iEdges] * E
}
first[count] = edges.length
const label = (i) => `${types[nodes[i * N + iType]]}:${strings[nodes[i * N + iName]].slice(0, 50)}`
const en = (e) => {
  const t = etypes[edges[e + eType]]
  return t === 'element' || t === 'hidden' ? `[${edges[e + eName]}]` : strings[edges[e + eName]]
}
// find the gcPersistentSignals set
let setNode = -1
for (let i = 0; i < count && setNode < 0; i++)
  for (let e = first[i]; e < first[i + 1]; e += E)
    if (
      etypes[edges[e + eType]] !== 'element' &&
      etypes[edges[e + eType]] !== 'hidden' &&
      strings[edges[e + eName]] === 'gcPersistentSignals'
    ) {
      setNode = edges[e + eTo] / N
      break
    }
let table
for (let e = first[setNode]; e < first[setNode + 1]; e += E) if (en(e) === 'table') table = edges[e + eTo] / N
const sigs = []
for (let e = first[table]; e < first[table + 1]; e += E) {
  const t = edges[e + eTo] / N
  if (strings[nodes[t * N + iName]] === 'AbortSignal') sigs.push(t)
}
console.log('signals in gcPersistentSignals', sigs.length)
const kinds = new Map()
for (const s of sigs) {
  const props = []
  for (let e = first[s]; e < first[s + 1]; e += E) {
    const name = en(e)
    const to = edges[e + eTo] / N
    if (/kReason|kComposite|kTimeout|kAborted|kSourceSignals|kEvents|kDependantSignals/.test(name))
      props.push(`${name}=${label(to).replace(/^\w+:/, '')}`)
  }
  const k = props.join(' ')
  kinds.set(k, (kinds.get(k) ?? 0) + 1)
}
for (const [k, c] of [...kinds].sort((a, b) => b[1] - a[1]).slice(0, 8)) console.log(c, k)
// listeners of one signal: follow kEvents map -> listener
const s = sigs[Math.floor(sigs.length / 2)]
const dump = (i, depth, pre) => {
  if (depth > 4) return
  for (let e = first[i]; e < first[i + 1]; e += E) {
    const to = edges[e + eTo] / N
    const name = en(e)
    if (/^(map|__proto__|constructor)$/.test(name) || etypes[edges[e + eType]] === 'weak') continue
    console.log(`${pre}${name} -> ${label(to)}`)
    if (/kEvents|table|^\[|listener|callback|context|onAbort|^abort$|previous/.test(name) && depth < 4)
      dump(to, depth + 1, pre + '  ')
  }
}
dump(s, 0, '')
// reasons (message) of the aborted composites, and the size of their source sets
const msgs = new Map()
for (const s of sigs) {
  let reason = -1,
    src = -1
  for (let e = first[s]; e < first[s + 1]; e += E) {
    const n = en(e)
    if (n.includes('kReason')) reason = edges[e + eTo] / N
    if (n.includes('kSourceSignals')) src = edges[e + eTo] / N
  }
  if (reason < 0 || strings[nodes[reason * N + iName]] !== 'StreamEndedError') continue
  let msg = '?'
  for (let e = first[reason]; e < first[reason + 1]; e += E)
    if (en(e) === 'message') msg = strings[nodes[(edges[e + eTo] / N) * N + iName]]
  let srcCount = 0
  if (src >= 0)
    for (let e = first[src]; e < first[src + 1]; e += E)
      if (en(e) === 'table') {
        const t = edges[e + eTo] / N
        srcCount = (first[t + 1] - first[t]) / E
      }
  const k = `${msg} | source table edges ${srcCount}`
  msgs.set(k, (msgs.get(k) ?? 0) + 1)
}
console.log([...msgs].sort((a, b) => b[1] - a[1]).slice(0, 6))
// one leaked composite: its source signals (through the WeakRefs) and every retainer
const leaked = sigs.find((s) => {
  for (let e = first[s]; e < first[s + 1]; e += E)
    if (en(e).includes('kReason') && strings[nodes[(edges[e + eTo] / N) * N + iName]] === 'StreamEndedError')
      return true
  return false
})
const retainers = []
for (let i = 0; i < count; i++)
  for (let e = first[i]; e < first[i + 1]; e += E)
    if (edges[e + eTo] / N === leaked) retainers.push(`${label(i)} -${en(e)}(${etypes[edges[e + eType]]})->`)
console.log('retainers of one leaked composite:', retainers)
const walk = (i, depth, pre) => {
  for (let e = first[i]; e < first[i + 1]; e += E) {
    const to = edges[e + eTo] / N
    const n = en(e)
    if (/map|__proto__|properties/.test(n)) continue
    console.log(`${pre}${n}(${etypes[edges[e + eType]]}) -> ${label(to)}`)
    if (depth > 0 && /kSourceSignals|table|^\[|target|kDependantSignals/.test(n))
      walk(to, depth - 1, pre + '  ')
  }
}
walk(leaked, 4, '')
