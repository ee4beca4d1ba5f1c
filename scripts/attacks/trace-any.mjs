// Preload for a daemon (node --expose-gc --import <this>): remembers every AbortSignal.any() result
// weakly, by call site. On SIGUSR2 it collects garbage and writes to /tmp/trace-any-<pid>.txt how many
// of each site's signals are still alive, and how many of those are aborted (an aborted signal that is
// still alive long after is kept by something: a leak).
import { writeFileSync } from 'node:fs'

const any = AbortSignal.any
const made = new Map() // site -> WeakRef[]
AbortSignal.any = function (signals) {
  const s = any.call(this, signals)
  const site = new Error().stack
    .split('\n')
    .slice(2, 5)
    .map((l) =>
      l
        .trim()
        .replace(/^at /, '')
        .replace(/file:\/\/\/work\/main\//, ''),
    )
    .join(' < ')
  let list = made.get(site)
  if (list === undefined) made.set(site, (list = []))
  list.push(new WeakRef(s))
  return s
}
process.on('SIGUSR2', () => {
  globalThis.gc?.()
  setTimeout(() => {
    globalThis.gc?.()
    const rows = []
    for (const [site, list] of made) {
      let alive = 0,
        aborted = 0
      for (const r of list) {
        const s = r.deref()
        if (s !== undefined) {
          alive++
          if (s.aborted) aborted++
        }
      }
      rows.push(`${list.length} made, ${alive} alive, ${aborted} alive and aborted: ${site}`)
    }
    writeFileSync(`/tmp/trace-any-${process.pid}.txt`, rows.join('\n') + '\n')
  }, 100)
})
