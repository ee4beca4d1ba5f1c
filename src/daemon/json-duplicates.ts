/**
 * The first key that appears twice in one object of `text`, as a dotted path (`api.port`), or
 * undefined. JSON.parse keeps the last of two equal keys without a word, so a config file that sets
 * a setting twice would run with whichever came last; this finds that before anyone relies on it.
 * `text` should already be valid JSON (JSON.parse accepted it): only strings and brackets are tracked,
 * and a string left open ends the scan.
 * Keys are compared as JSON.parse reads them, so `"a"` and `"\u0061"` are the same key.
 */
export function firstDuplicateKey(text: string): string | undefined {
  const stack: Array<{ keys: Set<string>; key?: string } | null> = [] // null: an array
  let expectKey = false
  let i = 0
  while (i < text.length) {
    const c = text[i]
    if (c === '"') {
      let end = i + 1
      // Bounded by the text: a caller that skipped JSON.parse gets an answer, never a loop for ever.
      while (end < text.length && text[end] !== '"') end += text[end] === '\\' ? 2 : 1
      if (end >= text.length) return undefined
      const top = stack[stack.length - 1]
      if (expectKey && top) {
        const key = JSON.parse(text.slice(i, end + 1)) as string
        if (top.keys.has(key)) {
          const outer = stack.flatMap((f) => (f === null || f === top || f.key === undefined ? [] : [f.key]))
          return [...outer, key].join('.')
        }
        top.keys.add(key)
        top.key = key
        expectKey = false
      }
      i = end + 1
      continue
    }
    if (c === '{') {
      stack.push({ keys: new Set() })
      expectKey = true
    } else if (c === '[') stack.push(null)
    else if (c === '}' || c === ']') stack.pop()
    else if (c === ',') expectKey = stack[stack.length - 1] != null
    i++
  }
  return undefined
}
