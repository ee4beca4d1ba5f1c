#!/usr/bin/env node
// The CLI runs from the compiled output; `npm ci` builds it (the `prepare` script).
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

const main = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url))
if (!existsSync(main)) {
  process.stderr.write('qfs-node: dist/ is missing; run `npm ci` (or `npm run build`) in the qfs-node checkout\n')
  process.exit(70)
}
const { main: run } = await import(main)
process.exitCode = await run(process.argv.slice(2))
