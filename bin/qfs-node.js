#!/usr/bin/env node
// The CLI runs from the compiled output, which `npm ci` builds (the `prepare` script). libp2p 3 needs
// Node 22; on an older system Node, re-run on the Node 22 the project pins (the `node` dev dependency).
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { constants } from 'node:os'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))
const major = Number(process.versions.node.split('.')[0])
const pinned = `${root}node_modules/node/bin/node`
if (major < 22 && existsSync(pinned)) {
  // An IPC channel the command watches: should this wrapper die without passing a signal on (kill
  // -9 of the pid the user sees), the command is told by the channel's end and stops as on SIGTERM.
  const child = spawn(pinned, [fileURLToPath(import.meta.url), ...process.argv.slice(2)], {
    stdio: ['inherit', 'inherit', 'inherit', 'ipc'],
  })
  // What is sent to this process is meant for the command (SIGHUP: `kill -HUP $!` reloads a node).
  const forwarded = ['SIGINT', 'SIGTERM', 'SIGHUP']
  const forward = (signal) => child.kill(signal)
  for (const signal of forwarded) process.on(signal, forward)
  child.on('exit', (code, signal) => {
    if (signal === null) process.exit(code ?? 1)
    // End the way the command ended, so a shell or supervisor sees the signal: without the forwarders
    // the signal takes its default action here too. Should it be ignored here (nohup, a background
    // job), the status still says it: 128 + its number, as a shell reports it.
    for (const s of forwarded) process.off(s, forward)
    process.exitCode = 128 + (constants.signals[signal] ?? 0)
    process.kill(process.pid, signal)
  })
} else {
  const main = `${root}dist/cli/main.js`
  if (!existsSync(main)) {
    process.stderr.write(
      'qfs-node: dist/ is missing; run `npm ci` (or `npm run build`) in the qfs-node checkout\n',
    )
    process.exit(70)
  }
  // A reader that goes away (a closed pipe, a parent killed by Ctrl-C first, a terminal that was
  // closed: EIO) must not crash a command that is still shutting nodes down: output is lost, the work
  // goes on.
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (err) => {
      if (err.code !== 'EPIPE' && err.code !== 'EIO') throw err
    })
  }
  // Run by the wrapper above: its channel ending means the wrapper is gone, so stop as on SIGTERM
  // (the command's own handlers clean up). The channel must not keep the process alive by itself.
  if (process.channel !== undefined) {
    process.channel.unref()
    process.once('disconnect', () => {
      // Said first: what the command logs next names SIGTERM, which is only how it is stopped.
      process.stderr.write('qfs-node: the launcher (bin/qfs-node.js) is gone: stopping as on SIGTERM\n')
      process.kill(process.pid, 'SIGTERM')
    })
  }
  const { main: run, endByInterrupt } = await import(main)
  process.exitCode = await run(process.argv.slice(2))
  // A command interrupted by a signal cleaned up; end by that signal, so a shell sees it (a loop of
  // commands stops at Ctrl-C) rather than an exit status it reads as handled.
  endByInterrupt()
}
