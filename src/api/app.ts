import { createHash, timingSafeEqual } from 'node:crypto'
import { type IncomingMessage, type ServerResponse, STATUS_CODES } from 'node:http'
import type { Duplex } from 'node:stream'
import Fastify, {
  type FastifyBaseLogger,
  type FastifyError,
  type FastifyInstance,
  type FastifyReply,
  LogController,
} from 'fastify'
import type { Registry } from 'prom-client'
import { InvalidInputError, QfsError } from '../core/errors.js'
import { filterText } from '../engine/list.js'
import type { ListResponse } from '../engine/responses.js'
import type { LogHead } from '../log/index.js'
import type { SpaceStatus, StoreStats } from '../store/index.js'
import { httpStatusOf, UnauthorizedError } from './errors.js'
import {
  errorSchema,
  healthSchema,
  listQuerySchema,
  listResponseSchema,
  readinessSchema,
  statusSchema,
} from './schemas.js'

/** `/v1/status`: who the node is and what it holds. */
export interface NodeStatus {
  node_id: string
  version: string
  ready: boolean
  epoch: number | null
  snapshot_hash: string | null
  multiaddrs: string[]
  peers: number
  store: StoreStats
  log: LogHead
  /** Room for shard data; null when the node runs without a space guard. */
  space: SpaceStatus | null
  /** Peers that lately failed to answer (a request or a probe): tried last, not waited for when not needed. */
  suspect_peers: string[]
  uptime_seconds: number
}

export interface Readiness {
  store: boolean
  libp2p: boolean
  snapshot: boolean
  /** The snapshot in force lists this node: the eligible nodes refuse a node they do not list. */
  eligible: boolean
}

/** Ready to serve: every check holds. */
export function isReady(checks: Readiness): boolean {
  return checks.store && checks.libp2p && checks.snapshot && checks.eligible
}

/** What the API reads; the daemon supplies the running node, tests their own. */
export interface ApiDeps {
  status(): Promise<NodeStatus>
  readiness(): Readiness
  /** The engine's listObjects (the QFS interface answer), stopped when `signal` aborts. */
  listObjects(filters: unknown, options: { signal: AbortSignal }): Promise<ListResponse>
  /**
   * One of the node's listing slots for a /v1/objects request, or a NODE_BUSY throw: the same slots
   * as libp2p's `list_objects`, all API requests counting as one source (API_LISTING_SOURCE). The
   * slot is held until the answer is sent or the client goes. Absent, API listings take no slot.
   */
  admitListing?(signal: AbortSignal, source: string): { readonly signal: AbortSignal; release(): void }
  /** Prometheus registry holding libp2p's, prom-client's default and the node's metrics. */
  registry: Registry
  /** When set, every /v1 route needs `Authorization: Bearer <token>`. */
  token?: string
  logger?: FastifyBaseLogger
}

interface ListQuery {
  limit?: number
  after_object_id?: string
  after_version?: number
  prefix?: string
  tag?: string
  author?: string
  tick_from?: number
  tick_to?: number
}

/**
 * The operator API (fastify 5): health, readiness, Prometheus metrics, and the /v1 JSON routes.
 * Returned without listening, so tests drive it with `app.inject()`.
 */
export function buildApi(deps: ApiDeps): FastifyInstance {
  const app = Fastify({
    loggerInstance: deps.logger,
    // Request logs would be one line per scrape; failures are logged by the error handler.
    logController: new LogController({ disableRequestLogging: true }),
    // Unknown query parameters are refused, not silently dropped.
    ajv: { customOptions: { removeAdditional: false } },
    // What Node's HTTP parser refuses before any route (headers or URL too large, a malformed
    // request) gets our error shape too.
    clientErrorHandler: answerClientError,
    // What fastify's router refuses before any route or error handler (a path that does not
    // percent-decode, `/%`) gets it too, rather than fastify's own body.
    frameworkErrors: (err, request, reply) => {
      if (typeof err.statusCode === 'number' && err.statusCode >= 400 && err.statusCode < 500) {
        return sendError(reply, err.statusCode, 'INVALID_INPUT', err.message)
      }
      request.log.error({ err }, 'operator API request failed')
      return sendError(reply, 500, 'INTERNAL', 'internal error')
    },
  }) as unknown as FastifyInstance

  app.setErrorHandler((err: FastifyError, request, reply) => {
    if (err.validation !== undefined) return sendError(reply, 400, 'INVALID_INPUT', err.message)
    if (err instanceof QfsError) {
      const status = httpStatusOf(err.code)
      if (status === 401) reply.header('www-authenticate', 'Bearer')
      return sendError(reply, status, err.code, err.message)
    }
    // Fastify's own 4xx (bad content type, body too large) say what was wrong with the request.
    if (typeof err.statusCode === 'number' && err.statusCode >= 400 && err.statusCode < 500) {
      return sendError(reply, err.statusCode, 'INVALID_INPUT', err.message)
    }
    request.log.error({ err }, 'operator API request failed')
    return sendError(reply, 500, 'INTERNAL', 'internal error')
  })
  app.setNotFoundHandler((request, reply) =>
    sendError(reply, 404, 'NOT_FOUND', `no route ${request.method} ${request.url.split('?')[0]}`),
  )

  app.get('/healthz', { schema: { response: { 200: healthSchema } } }, async () => ({ status: 'ok' }))

  app.get(
    '/readyz',
    { schema: { response: { 200: readinessSchema, 503: readinessSchema } } },
    async (_req, reply) => {
      const checks = deps.readiness()
      const ready = isReady(checks)
      return reply.code(ready ? 200 : 503).send({ ready, checks })
    },
  )

  app.get('/metrics', async (_req, reply) => {
    const text = await deps.registry.metrics()
    return reply.type(deps.registry.contentType).send(text)
  })

  app.register(
    async (v1) => {
      if (deps.token !== undefined) {
        const expected = digest(deps.token)
        v1.addHook('onRequest', async (request) => {
          const given = bearerToken(request.headers.authorization)
          // Digests first: equal lengths for timingSafeEqual, and no early exit on the first byte.
          if (given === undefined) {
            throw new UnauthorizedError('a bearer token is required (Authorization: Bearer <api.token>)')
          }
          if (!timingSafeEqual(digest(given), expected)) {
            throw new UnauthorizedError("the bearer token is not this node's api.token")
          }
        })
      }
      const errors = {
        400: errorSchema,
        401: errorSchema,
        404: errorSchema,
        500: errorSchema,
        503: errorSchema,
      }

      v1.get('/status', { schema: { response: { 200: statusSchema, ...errors } } }, async () => deps.status())

      v1.get<{ Querystring: ListQuery }>(
        '/objects',
        {
          schema: { querystring: listQuerySchema, response: { 200: listResponseSchema, ...errors } },
          preValidation: async (request) => {
            const query = request.query as Record<string, unknown>
            refuseUnknownOrRepeated(query)
            refuseNonDecimal(query)
            // The engine's own bound, in its unit (UTF-16 code units; ajv's maxLength counts code
            // points): a filter this API takes, the engine takes too.
            for (const key of TEXT_QUERY_KEYS) {
              if (typeof query[key] === 'string') filterText(key, query[key])
            }
          },
        },
        async (request, reply) => {
          const q = request.query
          const filters = {
            limit: q.limit,
            after:
              q.after_object_id === undefined
                ? undefined
                : { object_id: q.after_object_id, version: q.after_version },
            prefix: q.prefix,
            tag: q.tag,
            author: q.author,
            tick_from: q.tick_from,
            tick_to: q.tick_to,
          }
          // A page is held in memory until it is sent, so its slot is too: a client that stops
          // reading keeps the slot, not more pages (the source's share bounds what it can keep).
          const gone = new AbortController()
          const slot = deps.admitListing?.(gone.signal, API_LISTING_SOURCE)
          whenRequestEnds(request.raw, reply.raw, () => {
            gone.abort(new ClientGoneError())
            slot?.release()
          })
          const answer = await deps.listObjects(filters, { signal: slot?.signal ?? gone.signal })
          if (answer.ok) return answer
          return reply.code(httpStatusOf(answer.code)).send({
            ok: false,
            code: answer.code,
            message: answer.error_detail,
            error_code: answer.error_code,
            storage_event_id: answer.storage_event_id,
          })
        },
      )
    },
    { prefix: '/v1' },
  )
  return app
}

function answerClientError(err: NodeJS.ErrnoException, socket: Duplex): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return
  const [status, code, message] =
    err.code === 'HPE_HEADER_OVERFLOW'
      ? [431, 'INVALID_INPUT', 'request headers or URL too large']
      : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? [408, 'TIMEOUT', 'the request did not arrive in time']
        : [400, 'INVALID_INPUT', 'malformed HTTP request']
  const body = JSON.stringify({ ok: false, code, message })
  if (socket.writable) {
    socket.write(
      `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Length: ${Buffer.byteLength(body)}\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n${body}`,
    )
  }
  socket.destroy()
}

/** What runs when each request in flight on a socket ends, under one 'close' listener per socket. */
const requestsOnSocket = new WeakMap<Duplex, Set<() => void>>()

/**
 * Calls `ended` once, when the response closes or its connection does, whichever is first: a
 * pipelined request's response waits in Node's queue without a socket, and a connection closed under
 * it never closes it (a review found each such listing kept its slot for good). However many
 * requests are pipelined on a socket, it carries one listener.
 */
function whenRequestEnds(request: IncomingMessage, response: ServerResponse, ended: () => void): void {
  const socket = request.socket as Duplex | null
  let waiting = true
  const end = () => {
    if (!waiting) return
    waiting = false
    response.removeListener('close', end)
    if (socket !== null) requestsOnSocket.get(socket)?.delete(end)
    ended()
  }
  // A connection that closed before the handler ran has no 'close' left to give.
  if (socket === null || socket.destroyed) {
    end()
    return
  }
  response.once('close', end)
  let requests = requestsOnSocket.get(socket)
  if (requests === undefined) {
    const all = new Set<() => void>()
    requests = all
    requestsOnSocket.set(socket, all)
    socket.once('close', () => {
      for (const request of [...all]) request()
    })
  }
  requests.add(end)
}

/** The operator API's listing route, as `qfs_exchange_failures_total` names its refusals. */
export const API_LISTING_ROUTE = '/v1/objects'

/**
 * The source every /v1/objects request counts as in the node's listing slots: the API is on loopback
 * or behind a token, so its clients are the operator's, and together they hold at most a source's
 * share (docs/protocol.md 4.5), whatever address they come from; libp2p clients keep the rest.
 */
export const API_LISTING_SOURCE = 'operator-api'

/** Aborts the listing of a /v1/objects client that went before its answer. */
class ClientGoneError extends QfsError {
  static readonly code = 'CANCELLED'
  constructor() {
    super(ClientGoneError.code, 'the operator API client closed its connection')
  }
}

/** The text query parameters of /v1/objects that the engine bounds in length. */
const TEXT_QUERY_KEYS = ['tag', 'author'] as const

/** The integer query parameters of /v1/objects. */
const INTEGER_QUERY_KEYS = ['limit', 'after_version', 'tick_from', 'tick_to'] as const
const DECIMAL = /^(0|[1-9][0-9]*)$/

/**
 * Named in our words before the schema's: ajv says only "must NOT have additional properties" for an
 * unknown parameter, and a repeated one (an array) fails whatever check comes first.
 */
function refuseUnknownOrRepeated(query: Record<string, unknown>): void {
  for (const [key, value] of Object.entries(query)) {
    if (!Object.hasOwn(listQuerySchema.properties, key))
      throw new InvalidInputError(`unknown query parameter ${key}`)
    if (Array.isArray(value))
      throw new InvalidInputError(`${key} is given ${value.length} times: give it once`)
  }
}

/**
 * Integers in a query are plain decimal text, as the CLI takes them: the schema's coercion alone
 * would read `1e3` as 1000 and `0010` as 10, which the CLI refuses.
 */
function refuseNonDecimal(query: Record<string, unknown>): void {
  for (const key of INTEGER_QUERY_KEYS) {
    const value = query[key]
    if (value === undefined || (typeof value === 'string' && DECIMAL.test(value))) continue
    throw new InvalidInputError(`${key} must be a decimal integer without sign, exponent or leading zeros`)
  }
}

function sendError(reply: FastifyReply, status: number, code: string, message: string) {
  return reply.code(status).send({ ok: false, code, message })
}

/**
 * The token of `Authorization: Bearer <token>`. The scheme name is case-insensitive (RFC 7235
 * section 2.1, RFC 6750 section 2.1), so `bearer` and `BEARER` are the same scheme.
 */
function bearerToken(header: string | undefined): string | undefined {
  if (typeof header !== 'string') return undefined
  const m = /^([^ ]+) +([^ ]+) *$/.exec(header)
  return m !== null && m[1]!.toLowerCase() === 'bearer' ? m[2] : undefined
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text).digest()
}
