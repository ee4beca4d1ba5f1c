export {
  type ClientOptions,
  type Content,
  type OpenedRead,
  type PutOptions,
  type ReadOptions,
  StorageClient,
  type StorageClientComponents,
  type StorageClientInit,
} from './client.js'
export { type Dialer, dialTarget, type PeerTarget } from './dial.js'
export {
  ContentTooLargeError,
  FrameInvalidError,
  FrameTooLargeError,
  NodeBusyError,
  NotEligibleError,
  ReadTooSlowError,
  RemoteError,
  StreamEndedError,
  StreamTimeoutError,
  UnexpectedFrameError,
  UnknownMessageError,
  type WireError,
  WriteTooSlowError,
} from './errors.js'
export { FrameStream, type FrameStreamOptions } from './frame-stream.js'
export {
  dataBytes,
  decodeFrameContent,
  encodeDataFrame,
  encodeEndFrame,
  encodeErrorFrame,
  encodeJsonFrame,
  FRAME_DATA,
  FRAME_END,
  FRAME_ERROR,
  FRAME_JSON,
  type Frame,
  FrameDecoder,
  MAX_DATA_BYTES,
  MAX_FRAME_BYTES,
} from './frames.js'
export { createQfsLibp2p, type QfsLibp2pInit, type QfsLibp2pServices } from './libp2p-node.js'
export type {
  ListHeader,
  ListRequest,
  ProofRequest,
  ReadHeader,
  ReadRequest,
  ReadTrailer,
  WriteRequest,
} from './messages-public.js'
export {
  DEFAULT_LIMITS,
  type Limits,
  PROTOCOL_PREFIX,
  PROTOCOL_VERSION,
  PROTOCOLS,
  type ProtocolName,
} from './protocols.js'
export { type AdmittedRead, ReadAdmission, type ReadLimits } from './read-admission.js'
export {
  type Registrar,
  type StorageProtocolComponents,
  type StorageProtocolInit,
  type StorageProtocolService,
  storageProtocol,
} from './service.js'
export { Libp2pTransport, type Libp2pTransportComponents, type Libp2pTransportInit } from './transport.js'
export { ContentVerifier } from './verify.js'
export {
  type AdmittedWrite,
  replicaPreopenBytes,
  WriteAdmission,
  waitAllowanceMs,
} from './write-admission.js'
