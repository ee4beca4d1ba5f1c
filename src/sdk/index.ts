// The ids a client names objects and shards by (PROTOCOL.md "Identifiers").
export { objectId, shardId } from '../core/ids.js'
export { type NodeAddress, parseNodeAddress } from './address.js'
export {
  checkListing,
  checkProofAnswer,
  checkReadHeader,
  checkReadTrailer,
  checkStoreAnswer,
} from './checks.js'
export {
  type GetContentOptions,
  MAX_BUFFERED_CONTENT_BYTES,
  QfsClient,
  type QfsClientInit,
  type QfsClientTimeouts,
  type QfsOpenedRead,
  type ReadCallOptions,
} from './client.js'
export { ClientClosedError, EngineNotSetError } from './errors.js'
export { toFailure } from './failures.js'
export {
  AtlasAPIGateway,
  type FeedItem,
  type FeedQuery,
  type FeedResponse,
  type FeedSuccess,
  type MetadataResponse,
  type MetadataSuccess,
  type PublishRequest,
} from './gateway.js'
export { type TransferProgress, verifiedContent } from './verified-read.js'
export { type LatestVersion, latestVersion } from './versions.js'
