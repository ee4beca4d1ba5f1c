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

/**
 * A call on a QfsClient after `close()`. Like a node that cannot be reached it is answered, not
 * thrown (`{ok: false, error_code: 'SE_ERR_INTERNAL', code: 'CLIENT_CLOSED'}`), but it says that the
 * caller closed the client, so no retry against the node can help.
 */
export class ClientClosedError extends QfsError {
  static readonly code = 'CLIENT_CLOSED'
  constructor(
    message = 'the client is closed: create a new QfsClient to talk to the node',
    options?: ErrorOptions,
  ) {
    super(ClientClosedError.code, message, options)
  }
}

/**
 * The nodes asked to confirm a version (sdk/confirm.ts) did not, by a strict majority, list it as
 * the node talked to answered it: what that node served does not check out against the network.
 */
export class NotConfirmedError extends QfsError {
  static readonly code = 'NOT_CONFIRMED'
  constructor(message: string, options?: ErrorOptions) {
    super(NotConfirmedError.code, message, options)
  }
}
