import FCGIRuntime
import GatewayCore
import Logging

/// What a handler gets besides the request: configuration, this thread's Redis client,
/// a logger with the request's metadata, the clock and the time, and the caller's identity.
public struct Context {
    public let config: Config
    public let redis: RedisClient
    private let baseLogger: Logger
    private let requestPath: String?
    /// The clock `now` was read from (durations in handlers use its monotonic time).
    public let clock: Clock
    /// The request's parameters, kept (not copied) for the logger's `request.id`.
    private let requestParams: [String: String]?
    /// Unix seconds at the start of the request.
    public let now: Int64
    /// The e-mail nginx set from OAuth2 Proxy's answer (`GATEWAY_AUTH_EMAIL`), lowercased;
    /// nil without a browser session. Never taken from a client header.
    public let identity: String?

    /// This thread's memory of recently checked tokens (nil: every /v1 check asks Redis).
    let jwtCache: JWTCheckCache?

    /// For an access check (`GATEWAY_CHECK`): the exact path nginx forwards on an allow
    /// (`X-Gateway-Path`), from `RequestTarget.forwardPath`; Router refused the request if none.
    let forwardPath: String

    init(
        config: Config, redis: RedisClient, logger: Logger, clock: Clock, identity: String?, requestPath: String?,
        jwtCache: JWTCheckCache?, forwardPath: String = "", requestParams: [String: String]? = nil
    ) {
        self.jwtCache = jwtCache
        self.forwardPath = forwardPath
        self.requestParams = requestParams
        self.config = config
        self.redis = redis
        self.baseLogger = logger
        self.clock = clock
        self.now = clock.unixSeconds()
        self.identity = identity
        self.requestPath = requestPath
    }

    public init(config: Config, redis: RedisClient, logger: Logger, clock: Clock = .system, identity: String?) {
        self.init(config: config, redis: redis, logger: logger, clock: clock, identity: identity, requestPath: nil, jwtCache: nil)
    }

    /// A context whose wall time stands still at `now` (tests, replays).
    public init(config: Config, redis: RedisClient, logger: Logger, now: Int64, identity: String?) {
        self.init(config: config, redis: redis, logger: logger, clock: Clock(fixedUnixSeconds: now), identity: identity)
    }

    /// The only way to revoke, ban or force a logout: waits for this process's revocation
    /// watch itself.
    public var revocations: Revocations { Revocations(redis: redis, watch: jwtCache?.watch) }

    /// The logger with the request's path and caller as metadata, built only when a handler
    /// logs (building it on every /v1 call cost about 3 % of the worker's time).
    public var logger: Logger {
        var logger = baseLogger
        if let requestPath { logger[metadataKey: "request.path"] = .string(requestPath) }
        // nginx's $request_id: the same id as the access log, LiteLLM's x-request-id and the
        // client's X-Request-Id header.
        if let id = requestParams?["REQUEST_ID"] { logger[metadataKey: "request.id"] = .string(id) }
        if let identity { logger[metadataKey: "user.email"] = .string(identity) }
        return logger
    }

    /// The signed-in user's e-mail, or 401.
    public func requireIdentity() throws(APIError) -> String {
        guard let identity else { throw .unauthenticated }
        return identity
    }
}
