import { existsSync } from 'node:fs'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { initDataDir, writeRunInfo } from '../../src/daemon/data-dir.js'
import { runCli } from './run.js'

let root = ''
let key = ''

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'qfs-cli-aegis-'))
  key = join(root, 'authority.json')
  expect((await runCli(['aegis', 'keygen', '--out', key])).status).toBe(0)
})
afterAll(async () => {
  if (root !== '') await rm(root, { recursive: true, force: true })
})

/** A node directory whose config listens on a fixed port: `aegis sign` can list it without run.json. */
async function nodeWithPort(name: string, port: number): Promise<string> {
  const { dir } = await initDataDir(join(root, name))
  await writeFile(join(dir, 'config.json'), JSON.stringify({ listen: [`/ip4/127.0.0.1/tcp/${port}`] }))
  return dir
}

const sign = (out: string, ...args: string[]) =>
  runCli(['aegis', 'sign', '--key', key, '--epoch', '0', '--out', out, ...args])

describe('aegis sign --node-dir', () => {
  it('refuses a never-started node on port 0 with INVALID_ARGUMENT saying how to fix it', async () => {
    const { dir, nodeId } = await initDataDir(join(root, 'fresh'))
    const good = [await nodeWithPort('p1', 4601), await nodeWithPort('p2', 4602)]
    const out = join(root, 'fresh-snapshot.json')
    const r = await sign(out, '--node-dir', good[0]!, '--node-dir', dir, '--node-dir', good[1]!)
    expect(r.status).toBe(2)
    expect(r.stderr.split('\n')).toHaveLength(2)
    expect(r.stderr).toMatch(/^error \[INVALID_ARGUMENT\]: /)
    expect(r.stderr).toContain(`--node-dir ${dir}: node ${nodeId} has no address a peer could dial`)
    expect(r.stderr).toContain('--allow-no-snapshot')
    expect(r.stderr).toContain('`listen` with a fixed port')
    expect(r.stderr).toContain('`announce`')
    expect(existsSync(out)).toBe(false)
  })

  it('refuses a node whose run.json lists no address', async () => {
    const { dir, nodeId } = await initDataDir(join(root, 'no-addrs'))
    await writeRunInfo(dir, { pid: process.pid, node_id: nodeId, multiaddrs: [], api: 'http://127.0.0.1:1' })
    const r = await sign(join(root, 'no-addrs.json'), '--node-dir', dir)
    expect(r.status).toBe(2)
    expect(r.stderr).toContain(
      `--node-dir ${dir}: node ${nodeId} has no address a peer could dial (its run.json lists none)`,
    )
  })

  it('takes a node that announces an address though it listens on port 0', async () => {
    const { dir } = await initDataDir(join(root, 'announcing'))
    await writeFile(join(dir, 'config.json'), JSON.stringify({ announce: ['/dns4/node.example/tcp/4001'] }))
    const out = join(root, 'announcing.json')
    const r = await sign(
      out,
      '--node-dir',
      dir,
      '--params',
      await paramsFile('rf1.json', { replication_factor: 1 }),
    )
    expect(r.stderr).toBe('')
    expect(r.status).toBe(0)
    expect(JSON.parse(await readFile(out, 'utf8')).nodes[0].multiaddrs).toEqual([
      '/dns4/node.example/tcp/4001',
    ])
  })

  it('warns, without failing, when fewer nodes than replication_factor are listed', async () => {
    const two = [await nodeWithPort('w1', 4611), await nodeWithPort('w2', 4612)]
    const out = join(root, 'two.json')
    const r = await sign(out, '--node-dir', two[0]!, '--node-dir', two[1]!)
    expect(r.status).toBe(0)
    expect(r.stderr).toBe(
      'warning: the snapshot lists 2 nodes, fewer than replication_factor 3: every write will fail with INSUFFICIENT_NODES\n',
    )
    expect(JSON.parse(await readFile(out, 'utf8')).nodes).toHaveLength(2)

    // The factor is the snapshot's own: 2 nodes are enough for a factor of 2, and 3 for the default.
    const rf2 = await paramsFile('rf2.json', { replication_factor: 2 })
    const enough = await sign(
      join(root, 'two-rf2.json'),
      '--node-dir',
      two[0]!,
      '--node-dir',
      two[1]!,
      '--params',
      rf2,
    )
    expect(enough).toMatchObject({ status: 0, stderr: '' })
    const three = await sign(
      join(root, 'three.json'),
      '--node-dir',
      two[0]!,
      '--node-dir',
      two[1]!,
      '--node-dir',
      await nodeWithPort('w3', 4613),
    )
    expect(three).toMatchObject({ status: 0, stderr: '' })
  })
})

async function paramsFile(name: string, params: Record<string, unknown>): Promise<string> {
  const path = join(root, name)
  await writeFile(path, JSON.stringify(params))
  return path
}

describe('aegis sign --params', () => {
  it.each([
    ['block_size_bytes', 5, 'block_size_bytes must be an integer in 1024..67108864'],
    ['num_shards_per_object', 0, 'num_shards_per_object must be an integer in 1..256'],
    ['replication_factor', 'three', 'replication_factor must be an integer in 1..64'],
    ['schema_version', -1, 'schema_version must be an integer in 0..4294967295'],
  ])('names the file’s snake_case field %s in its error', async (field, value, message) => {
    const path = await paramsFile(`bad-${field}.json`, { [field]: value })
    const r = await sign(
      join(root, 'never.json'),
      '--node-dir',
      await nodeWithPort(`pp-${field}`, 4620),
      '--params',
      path,
    )
    expect(r.status).toBe(2)
    expect(r.stderr).toBe(`error [INVALID_INPUT]: ${path}: ${message}\n`)
  })
})

describe('aegis sign --nodes and --params that are not JSON', () => {
  it('says so in one line: the text JSON.parse quotes keeps its newline escaped', async () => {
    const path = join(root, 'text.json')
    await writeFile(path, 'hello\n')
    for (const flag of ['--nodes', '--params']) {
      const args =
        flag === '--nodes' ? [flag, path] : ['--node-dir', await nodeWithPort('pj', 4621), flag, path]
      const r = await sign(join(root, 'never.json'), ...args)
      expect(r.status).toBe(2)
      expect(r.stderr).toBe(
        `error [INVALID_INPUT]: cannot read ${flag} ${path}: Unexpected token 'h', "hello\\n" is not valid JSON\n`,
      )
    }
  })
})

describe('aegis keygen and sign --out', () => {
  it('refuse an empty --out as a usage error, and name --out, not a temporary file, when it cannot be written', async () => {
    const nowhere = join(root, 'no-such-dir', 'out.json')
    const node = await nodeWithPort('out-node', 4622)
    for (const args of [
      ['aegis', 'keygen', '--out'],
      ['aegis', 'sign', '--key', key, '--node-dir', node, '--epoch', '0', '--out'],
    ]) {
      const empty = await runCli([...args, ''])
      expect(empty).toMatchObject({
        status: 2,
        stderr: 'error [INVALID_ARGUMENT]: --out is empty: give the path of the file to write\n',
      })
      // Before: `ENOENT: ..., open '<out>.<pid>.<hex>.tmp'` (or a rename of it to '').
      const missingDir = await runCli([...args, nowhere])
      expect(missingDir).toMatchObject({
        status: 3,
        stderr: `error [IO_ERROR]: cannot write ${nowhere}: ENOENT (no such file or directory)\n`,
      })
    }
  })
})

describe('aegis verify on a file that is no snapshot', () => {
  const trust = () => `${key}.pub`

  it.each([
    ['text that is not JSON', 'this is not json\n', /^INVALID \[MALFORMED\]: .*not JSON\n$/],
    ['an empty object', '{}', /^INVALID \[MALFORMED\]: snapshot\.schema is missing\n$/],
    [
      'JSON after a byte order mark',
      '\uFEFF{}',
      /^INVALID \[MALFORMED\]: .* begins with a byte order mark \(U\+FEFF\); /,
    ],
  ])('gives the verdict and exit 1 for %s', async (_what, text, verdict) => {
    const file = join(root, `verify-${text.length}.json`)
    await writeFile(file, text)
    const r = await runCli(['aegis', 'verify', file, '--trust', trust()])
    expect(r.stderr).toBe('')
    expect(r.status).toBe(1)
    expect(r.stdout).toMatch(verdict)
    const json = await runCli(['aegis', 'verify', file, '--trust', trust(), '--json'])
    expect(json.status).toBe(1)
    expect(JSON.parse(json.stdout)).toMatchObject({ ok: false, code: 'MALFORMED' })
  })

  it('refuses keygen over an existing file and sign without an epoch as usage errors (exit 2)', async () => {
    const existing = join(root, 'taken.json')
    await writeFile(existing, 'precious\n')
    const again = await runCli(['aegis', 'keygen', '--out', existing])
    expect(again).toMatchObject({ status: 2, stdout: '' })
    expect(again.stderr).toBe(
      `error [INVALID_ARGUMENT]: ${existing} exists: keygen never overwrites a key; give another --out\n`,
    )
    expect(await readFile(existing, 'utf8')).toBe('precious\n')
    const noEpoch = await runCli(['aegis', 'sign', '--key', key, '--out', join(root, 'x.json')])
    expect(noEpoch).toMatchObject({
      status: 2,
      stderr: 'error [INVALID_ARGUMENT]: --epoch is required without --prev\n',
    })
    const badEpoch = await runCli([
      'aegis',
      'sign',
      '--key',
      key,
      '--epoch',
      '-1',
      '--out',
      join(root, 'x.json'),
    ])
    expect(badEpoch).toMatchObject({
      status: 2,
      stderr: 'error [INVALID_ARGUMENT]: --epoch must be an integer in 0..9007199254740991, not "-1"\n',
    })
    // One spelling per number, as for every integer flag: `010` is 10 here and 8 to a C reader.
    for (const [flag, text] of [
      ['--epoch', '00'],
      ['--start-tick', '0100'],
    ]) {
      const zero = await runCli([
        'aegis',
        'sign',
        '--key',
        key,
        '--epoch',
        '0',
        flag!,
        text!,
        '--out',
        join(root, 'x.json'),
      ])
      expect(zero).toMatchObject({
        status: 2,
        stderr: `error [INVALID_ARGUMENT]: ${flag} must be an integer in 0..9007199254740991, not "${text}"\n`,
      })
    }
    expect(existsSync(join(root, 'x.json'))).toBe(false)
  })

  it('still reports a missing file as an error, not a verdict', async () => {
    const r = await runCli(['aegis', 'verify', join(root, 'absent.json'), '--trust', trust()])
    expect(r.status).toBe(2)
    expect(r.stdout).toBe('')
    expect(r.stderr).toMatch(/^error \[INVALID_ARGUMENT\]: .*absent\.json does not exist\n$/)
  })
})
