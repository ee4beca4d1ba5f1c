// What `QfsClient.create` and a streaming read's `content` throw (docs/sdk.md), to test with instanceof.
export { InvalidInputError, QfsError } from '../core/errors.js'
// The ids a client names objects and shards by (PROTOCOL.md "Identifiers").
export { objectId, shardId } from '../core/ids.js'
export { DEFAULT_PARAMS, type ProtocolParams } from '../core/params.js'
// The answer shapes of the StorageEngine interface, for callers typing what they hold.
export type { StorageEngineApi } from '../engine/api.js'
export type {
  EngineFailure,
  ListResponse,
  ListSuccess,
  ObjectSummary,
  ProofResponse,
  ProofSuccess,
  ReadResponse,
  ReadSuccess,
  ShardReadInfo,
  StoreResponse,
  StoreSuccess,
} from '../engine/responses.js'
export type { ContentSource } from '../engine/write.js'
export { ContentSourceError } from '../net/dial.js'
export { type NodeAddress, parseNodeAddress } from './address.js'
export { type CallLimits, DEFAULT_CALL_LIMITS } from './call-slots.js'
export {
  checkListing,
  checkProofAnswer,
  checkReadHeader,
  checkReadTrailer,
  checkStoreAnswer,
} from './checks.js'
export {
  DEFAULT_QUEUE_MS,
  type GetContentOptions,
  MAX_BUFFERED_CONTENT_BYTES,
  QfsClient,
  type QfsClientInit,
  type QfsClientTimeouts,
  type QfsOpenedRead,
  type ReadCallOptions,
} from './client.js'
export {
  type ConfirmationAnswer,
  confirmSummary,
  confirmVersion,
  type VersionConfirmation,
  type VersionToConfirm,
} from './confirm.js'
export { confirmRecord, type RecordSource } from './confirm-record.js'
export { ClientClosedError, EngineNotSetError, NotConfirmedError } from './errors.js'
export { failureCause, toFailure } from './failures.js'
export {
  AtlasAPIGateway,
  type FeedItem,
  type FeedQuery,
  type FeedResponse,
  type FeedSuccess,
  type GatewayOptions,
  type MetadataResponse,
  type MetadataSuccess,
  type PublishRequest,
} from './gateway.js'
export type { NotConfirmedFailure } from './gateway-confirm.js'
export { type TransferProgress, verifiedContent } from './verified-read.js'
export { type LatestVersion, latestVersion, writeNextVersion } from './versions.js'
