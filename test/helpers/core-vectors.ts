import { readFileSync } from 'node:fs'

export interface CoreVector {
  id: string
  kind: string
  input: Record<string, unknown>
  expected?: Record<string, unknown>
  error?: string
}

const file = JSON.parse(readFileSync(new URL('../vectors/core-public.json', import.meta.url), 'utf8')) as {
  format: string
  cases: CoreVector[]
}

/** The cases of one kind from test/vectors/core-public.json; throws if there are none (a silent pass). */
export function vectorsOf(kind: string): CoreVector[] {
  const cases = file.cases.filter((c) => c.kind === kind)
  if (cases.length === 0) throw new Error(`no vectors of kind ${kind}`)
  return cases
}

/** Calls `fn` and returns the `code` of the error it throws, or undefined when it returns. */
export function errorCode(fn: () => unknown): string | undefined {
  try {
    fn()
    return undefined
  } catch (err) {
    return (err as { code?: string }).code ?? 'NO_CODE'
  }
}
