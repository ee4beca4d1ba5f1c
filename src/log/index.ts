export {
  batchTree,
  CHECKPOINT_CONTEXT,
  CHECKPOINT_SCHEMA,
  type CheckpointBody,
  type CheckResult,
  type Coverage,
  checkCheckpoint,
  computeCheckpointId,
  eventLeaf,
  parseSignedCheckpoint,
  publicKeyHash,
  SIGNATURE_SCHEME,
  type SignedCheckpoint,
  signCheckpoint,
  verifyCoverage,
} from './checkpoint.js'
export {
  InsecureKeyFileError,
  InvalidKeyFileError,
  LogCorruptError,
  LogHeadUnreadableError,
  LogIdentityMismatchError,
  LogNotOpenError,
  LogRolledBackError,
  LogWriteError,
} from './errors.js'
export {
  computeEventId,
  EVENT_SCHEMA,
  EVENT_TYPES,
  type EventFields,
  type EventType,
  type JsonObject,
  type JsonValue,
  MAX_EVENT_BYTES,
  normalizeEventFields,
  type PqcSignatureRef,
  parseStorageEvent,
  type StorageEvent,
  ZERO_ID,
} from './event.js'
export {
  type AppendOptions,
  EventLog,
  type EventLogComponents,
  type EventLogOptions,
  type LogHead,
} from './event-log.js'
export {
  fileLogHeadRecord,
  LOG_HEAD_FILE,
  LOG_HEAD_SCHEMA,
  type LogHeadRecord,
  type RecordedHead,
} from './head-record.js'
export {
  AUDIT_KEY_FILE,
  type AuditKey,
  generateAuditKey,
  loadAuditPublicKey,
  loadOrCreateAuditKey,
} from './keys.js'
export {
  CHECKPOINT_SUBLEVEL,
  LOG_SUBLEVEL,
  type LogBatchOperation,
  type RootDb,
  seqKey,
} from './log-store.js'
export { publishSecretFile, readSecretFile } from './secret-file.js'
export { type LogSource, type LogVerification, verifyLog } from './verify.js'
