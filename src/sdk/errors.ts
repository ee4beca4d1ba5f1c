import { QfsError } from '../core/errors.js'

/**
 * The AtlasAPIGateway was asked for a content operation before `setStorageEngine`: a wiring mistake
 * of the host application, so it is thrown rather than answered as a `{ok: false}` shape.
 */
export class EngineNotSetError extends QfsError {
  static readonly code = 'ENGINE_NOT_SET'
  constructor(message = 'no storage engine set: call setStorageEngine first', options?: ErrorOptions) {
    super(EngineNotSetError.code, message, options)
  }
}
