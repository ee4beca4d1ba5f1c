import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { initDataDir } from '../../src/daemon/data-dir.js'
import { runCli } from './run.js'

/**
 * One code for one kind of mistake (walkthrough L2): a flag or argument that is missing, malformed
 * or out of range is INVALID_ARGUMENT with exit 2 on every command, as docs/operations.md says; a
 * local file or directory that cannot be used is named in our words, never with Node's raw text.
 */
describe('command-line argument errors', () => {
  let root: string
  let savedDir: string | undefined
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'qfs-cli-args-'))
  })
  afterAll(async () => {
    if (root !== undefined) await rm(root, { recursive: true, force: true })
  })
  // `status` and `init` fall back on $QFS_DIR: it must not be set by whoever runs the tests.
  beforeEach(() => {
    savedDir = process.env.QFS_DIR
    delete process.env.QFS_DIR
  })
  afterEach(() => {
    if (savedDir !== undefined) process.env.QFS_DIR = savedDir
  })

  it('answers INVALID_ARGUMENT, exit 2, for a bad flag of status, init, start, conformance and demo', async () => {
    const cases: Array<[string[], string]> = [
      [['status'], 'give --api URL or --dir DIR (or set QFS_DIR)'],
      [['status', '--api', 'http://127.0.0.1:1', '--dir', root], 'give --api or --dir, not both'],
      [['status', '--api', 'not a url'], '--api not a url is not a URL'],
      [['status', '--api', 'ftp://127.0.0.1:1'], '--api must be http(s)'],
      [
        ['status', '--api', 'http://127.0.0.1:1', '--timeout-ms', '0'],
        '--timeout-ms must be an integer in 1..2147483647, not "0"',
      ],
      [['init'], 'a data directory is required (--dir or QFS_DIR)'],
      [['demo', '--size', 'abc'], '--size must be an integer in 0..268435456, not "abc"'],
      [['start', '--remove-on-stdin-eof', 'f'], '--remove-on-stdin-eof needs --stop-on-stdin-eof'],
      [['start', '--stop-on-stdin-eof', '--remove-on-stdin-eof', ''], '--remove-on-stdin-eof needs a file'],
      [
        ['conformance', join(root, 'missing.json')],
        `cannot read vector file ${join(root, 'missing.json')}: ENOENT (no such file or directory)`,
      ],
      [['conformance', root], `cannot read vector file ${root}: EISDIR (illegal operation on a directory)`],
    ]
    for (const [args, message] of cases) {
      const r = await runCli(args)
      expect(r.stderr, args.join(' ')).toBe(`error [INVALID_ARGUMENT]: ${message}\n`)
      expect(r.status).toBe(2)
      expect(r.stdout).toBe('')
    }
  })

  it('refuses a leading zero in every integer flag, as integerOption does for put, get, ls and the config (aegis sign: aegis.test.ts)', async () => {
    // `007` read as 7 here could be 7 or octal elsewhere: one spelling per number, before anything runs.
    const api = ['--api', 'http://127.0.0.1:1']
    // A file as --dir: without the check, devnet and quickstart fail there at once instead of starting.
    const file = join(root, 'not-a-devnet')
    await writeFile(file, 'a file\n')
    const dir = ['--dir', file]
    const cases: Array<[string[], string]> = [
      [['devnet', ...dir, '--nodes', '007'], '--nodes must be an integer in 3..64, not "007"'],
      [
        ['devnet', ...dir, '--base-port', '04001'],
        '--base-port must be an integer in 1024..65535, not "04001"',
      ],
      [
        ['devnet', ...dir, '--start-timeout-ms', '060000'],
        '--start-timeout-ms must be an integer in 1..2147483647, not "060000"',
      ],
      [
        ['devnet', ...dir, '--stop-timeout-ms', '015000'],
        '--stop-timeout-ms must be an integer in 1..2147483647, not "015000"',
      ],
      [['quickstart', ...dir, '--nodes', '05'], '--nodes must be an integer in 3..16, not "05"'],
      [
        ['status', ...api, '--timeout-ms', '0005'],
        '--timeout-ms must be an integer in 1..2147483647, not "0005"',
      ],
      [['demo', '--size', '01024'], '--size must be an integer in 0..268435456, not "01024"'],
    ]
    for (const [args, message] of cases) {
      const r = await runCli(args)
      expect(r.stderr, args.join(' ')).toBe(`error [INVALID_ARGUMENT]: ${message}\n`)
      expect(r.status).toBe(2)
      expect(r.stdout).toBe('')
    }
  })

  it("refuses devnet's --log-level before it looks at --dir, as start would refuse it in each node", async () => {
    // A file as --dir: without the check, devnet fails there instead, or starts nodes that each refuse.
    const file = join(root, 'not-a-devnet-either')
    await writeFile(file, 'a file\n')
    const r = await runCli(['devnet', '--dir', file, '--log-level', 'loud'])
    expect(r.stderr).toBe(
      'error [INVALID_ARGUMENT]: --log-level must be one of fatal, error, warn, info, debug, trace, silent\n',
    )
    expect(r.status).toBe(2)
    expect(r.stdout).toBe('')
  })

  it("refuses a node's data directory as devnet's or quickstart's --dir with INVALID_ARGUMENT", async () => {
    const plain = join(root, 'plain-node')
    await initDataDir(plain)
    for (const args of [
      ['devnet', '--dir', plain, '--nodes', '3'],
      ['quickstart', '--dir', plain, '--nodes', '3'],
    ]) {
      const r = await runCli(args)
      expect(r.stderr, args[0]).toMatch(
        /error \[INVALID_ARGUMENT\]: .* is a node's data directory, not a devnet directory/,
      )
      expect(r.status).toBe(2)
    }
  })

  it('says what --dir of status is when it holds no node, in its own words', async () => {
    const file = join(root, 'a-file')
    await writeFile(file, 'not a directory\n')
    const devnet = join(root, 'a-devnet')
    await mkdir(devnet)
    await writeFile(join(devnet, 'devnet-state.json'), '{}\n')
    const empty = join(root, 'empty')
    await mkdir(empty)
    const cases: Array<[string, string]> = [
      [join(root, 'nowhere'), `error [NOT_A_NODE_DIR]: ${join(root, 'nowhere')}: no such directory\n`],
      [file, `error [INVALID_DATA_DIR]: the data directory ${file} is not a directory\n`],
      [
        devnet,
        `error [NOT_A_NODE_DIR]: ${devnet} is a devnet directory, not a node's: give one of its nodes, --dir ${join(devnet, 'node-1')} (node-<i> for node i)\n`,
      ],
      [empty, `error [NOT_A_NODE_DIR]: ${empty} has no node.json: it is not a node's data directory\n`],
    ]
    for (const [dir, line] of cases) {
      const r = await runCli(['status', '--dir', dir])
      expect(r.stderr).toBe(line)
      expect(r.status).toBe(3)
    }
  })

  it("words the parser's own errors like ours: one coded line and where the help is", async () => {
    const cases: Array<[string[], string, string]> = [
      [['put', 'f'], "required option '--node <multiaddr>' not specified", 'qfs-node put'],
      [['ls', '--node', '/ip4/127.0.0.1/tcp/1', '--bogus'], "unknown option '--bogus'", 'qfs-node ls'],
      [['frobnicate'], "unknown command 'frobnicate'", 'qfs-node'],
      [['aegis', 'sign', 'x'], "required option '--key <file>' not specified", 'qfs-node aegis sign'],
    ]
    for (const [args, message, command] of cases) {
      const r = await runCli(args)
      expect(r.stderr, args.join(' ')).toBe(
        `error [INVALID_ARGUMENT]: ${message}\n(see '${command} --help')\n`,
      )
      expect(r.status).toBe(2)
      expect(r.stdout).toBe('')
    }
  })
})
