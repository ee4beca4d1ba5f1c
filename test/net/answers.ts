import type { FrameStream } from '../../src/net/frame-stream.js'
import type { Frame } from '../../src/net/frames.js'

/** The frames a stream delivers until it ends; how it ended is not needed here. */
export async function answers(fs: FrameStream): Promise<Frame[]> {
  const frames: Frame[] = []
  for (;;) {
    try {
      frames.push(await fs.read(AbortSignal.timeout(10_000)))
    } catch {
      return frames
    }
  }
}
