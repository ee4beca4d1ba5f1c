import type { StreamHandler } from '@libp2p/interface'
import type { Registrar } from '../../src/net/service.js'

/** A registrar that keeps the handlers a service registers, so a test can hand them streams itself. */
export function capturingRegistrar(): { registrar: Registrar; handlers: Map<string, StreamHandler> } {
  const handlers = new Map<string, StreamHandler>()
  const registrar: Registrar = {
    handle: async (protocol, handler) => {
      handlers.set(protocol, handler)
    },
    unhandle: async () => {},
  }
  return { registrar, handlers }
}
