import { randomBytes } from 'node:crypto'
import { constants } from 'node:fs'
import { type FileHandle, link, open, unlink } from 'node:fs/promises'
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
  const fh = await openRegularFile(path)
  if (fh === undefined) return undefined
  try {
    const st = await fh.stat()
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

/**
 * `path` opened for reading, or undefined when it does not exist; anything but a regular file is
 * `INVALID_KEY_FILE`. Opened without blocking, then checked on the handle: a plain open of a FIFO
 * waits for a writer, and a FIFO in place of a key file hung the node's start for good.
 */
export async function openRegularFile(path: string): Promise<FileHandle | undefined> {
  let fh: FileHandle
  try {
    fh = await open(path, constants.O_RDONLY | constants.O_NONBLOCK)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw err
  }
  try {
    if (!(await fh.stat()).isFile()) throw new InvalidKeyFileError(`${path} is not a regular file`)
    return fh
  } catch (err) {
    await fh.close()
    throw err
  }
}
