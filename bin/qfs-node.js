#!/usr/bin/env node
// The CLI runs from the compiled output, which `npm ci` builds (the `prepare` script). libp2p 3 needs
// Node 22; on an older system Node, re-run on the Node 22 the project pins (the `node` dev dependency).
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))
const major = Number(process.versions.node.split('.')[0])
const pinned = `${root}node_modules/node/bin/node`
if (major < 22 && existsSync(pinned)) {
  const child = spawn(pinned, [fileURLToPath(import.meta.url), ...process.argv.slice(2)], {
    stdio: 'inherit',
  })
  for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => child.kill(signal))
  child.on('exit', (code, signal) => {
    if (signal !== null) process.kill(process.pid, signal)
    else process.exit(code ?? 1)
  })
} else {
  const main = `${root}dist/cli/main.js`
  if (!existsSync(main)) {
    process.stderr.write(
      'qfs-node: dist/ is missing; run `npm ci` (or `npm run build`) in the qfs-node checkout\n',
    )
    process.exit(70)
  }
  // A reader that goes away (a closed pipe, a parent killed by Ctrl-C first) must not crash a command
  // that is still shutting nodes down: output is lost, the work goes on.
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (err) => {
      if (err.code !== 'EPIPE') throw err
    })
  }
  const { main: run } = await import(main)
  process.exitCode = await run(process.argv.slice(2))
}
