import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { describe, expect, it } from 'vitest'
import { runCli } from './run.js'

/**
 * `put --namespace ""` / `--id ""` (walkthrough L17): spec-legal names, but most often an unset shell
 * variable, so the CLI refuses them before anything is dialled. The node named here does not exist:
 * a put that went on to dial it would end in NODE_UNAVAILABLE (exit 3) instead.
 */

async function nowhere(): Promise<string> {
  return `/ip4/127.0.0.1/tcp/1/p2p/${peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString()}`
}

describe('put refuses empty names', () => {
  it('refuses an empty --namespace or --id with INVALID_ARGUMENT (exit 2)', async () => {
    const node = await nowhere()
    for (const [namespace, id, flag] of [
      ['', 'file-1', '--namespace'],
      ['photos', '', '--id'],
      ['', '', '--namespace'],
    ] as const) {
      const r = await runCli(['put', 'package.json', '--node', node, '--namespace', namespace, '--id', id])
      expect(r.status).toBe(2)
      expect(r.stdout).toBe('')
      expect(r.stderr).toBe(
        `error [INVALID_ARGUMENT]: ${flag} is empty (an unset shell variable?): put refuses an empty name, although objectId() allows one\n`,
      )
    }
  })

  it('still dials for a name of one character or of white space', async () => {
    const node = await nowhere()
    for (const [namespace, id] of [
      ['a', 'b'],
      [' ', '\t'],
    ] as const) {
      const r = await runCli(['put', 'package.json', '--node', node, '--namespace', namespace, '--id', id])
      expect(r.status).toBe(3)
      expect(r.stderr).toMatch(/^error \[NODE_UNAVAILABLE\]: /)
    }
  })

  it('says so in --help', async () => {
    const r = await runCli(['put', '--help'])
    expect(r.status).toBe(0)
    expect(r.stdout).toContain('An empty --namespace or --id is refused (exit 2)')
    expect(r.stdout).toContain('The protocol itself allows empty strings in objectId(namespace, id)')
  })
})
