import { randomBytes } from 'node:crypto'
import { link, open, unlink } from 'node:fs/promises'
import { toHex } from '../core/bytes.js'
import { InsecureKeyFileError, InvalidKeyFileError } from './errors.js'

/**
 * The one way the node keeps secrets on disk (audit key, peer key, AEGIS authority key): mode 0600,
 * published atomically, never overwritten, and refused when others can read it, as OpenSSH refuses
 * such private keys.
 */

/**
 * Creates `path` holding `bytes` with mode 0600: written to a temporary name, synced, then
 * hard-linked into place, so a crash never leaves half a key and of two processes racing, exactly one
 * wins. Answers false, writing nothing, when `path` already exists.
 */
export async function publishSecretFile(path: string, bytes: string | Uint8Array): Promise<boolean> {
  const tmp = `${path}.${process.pid}.${toHex(randomBytes(6))}.tmp`
  const fh = await open(tmp, 'wx', 0o600)
  try {
    await fh.writeFile(bytes)
    await fh.sync()
  } finally {
    await fh.close()
  }
  try {
    await link(tmp, path)
    return true
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false
    throw err
  } finally {
    await unlink(tmp)
  }
}

/**
 * A secret file's bytes, or undefined when it does not exist. Mode and content come from one handle,
 * so the file checked is the file read: not a regular file is `INVALID_KEY_FILE`, readable by group
 * or others is `INSECURE_KEY_FILE`.
 */
export async function readSecretFile(path: string): Promise<Buffer | undefined> {
  let fh: Awaited<ReturnType<typeof open>>
  try {
    fh = await open(path, 'r')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw err
  }
  try {
    const st = await fh.stat()
    if (!st.isFile()) throw new InvalidKeyFileError(`${path} is not a regular file`)
    if (process.platform !== 'win32' && (st.mode & 0o077) !== 0) {
      throw new InsecureKeyFileError(
        `${path} has mode ${(st.mode & 0o777).toString(8)}; a secret key file must be 600 (chmod 600 ${path})`,
      )
    }
    return await fh.readFile()
  } finally {
    await fh.close()
  }
}
