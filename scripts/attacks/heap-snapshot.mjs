// A V8 heap snapshot loaded with its field offsets, for the heap analysis tools here.
import { readFileSync } from 'node:fs'

export function loadSnapshot(path) {
  const snap = JSON.parse(readFileSync(path, 'utf8'))
  const {
    node_fields: nf,
    edge_fields: ef,
    node_types: [types],
    edge_types: [etypes],
  } = snap.snapshot.meta
  return {
    nodes: snap.nodes,
    edges: snap.edges,
    strings: snap.strings,
    types,
    etypes,
    N: nf.length,
    E: ef.length,
    iType: nf.indexOf('type'),
    iName: nf.indexOf('name'),
    iSize: nf.indexOf('self_size'),
    iEdges: nf.indexOf('edge_count'),
    eType: ef.indexOf('type'),
    eName: ef.indexOf('name_or_index'),
    eTo: ef.indexOf('to_node'),
  }
}
