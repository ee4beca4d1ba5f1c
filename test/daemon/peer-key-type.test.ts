import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { generateKeyPair, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { dataPaths, initDataDir, readNodeIdentity } from '../../src/daemon/data-dir.js'

// A node signs its acceptances with its peer key, and peers check them with the key its peer id
// carries (docs/protocol.md 4.7): a data directory holding any other kind of key is refused.

let root: string
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'qfs-peer-key-'))
})
afterAll(async () => {
  await rm(root, { recursive: true, force: true })
})

describe('a data directory whose peer key is not Ed25519', () => {
  it('is refused when the node starts (INVALID_DATA_DIR naming the key type), and by init', async () => {
    const dir = join(root, 'secp')
    await initDataDir(dir)
    await expect(readNodeIdentity(dir)).resolves.toMatchObject({ nodeId: expect.stringMatching(/^12D3KooW/) })
    const secp = await generateKeyPair('secp256k1')
    await writeFile(dataPaths(dir).peerKey, privateKeyToProtobuf(secp), { mode: 0o600 })
    const refused = expect.objectContaining({
      code: 'INVALID_DATA_DIR',
      message: expect.stringMatching(/secp256k1 key: a node's peer key must be Ed25519/),
    })
    await expect(readNodeIdentity(dir)).rejects.toEqual(refused)
    await expect(initDataDir(dir)).rejects.toEqual(refused)
  })
})
