/// Everything the workers read from the environment, loaded once at start (every setting: `.env.example`, docs/operations.md).
/// A missing or invalid setting is a `ConfigError` naming the variable; the worker prints it
/// on one line and stops.
public struct Config: Sendable {
    public var jwt: JWTCodec
    public var jwtIssuer: String
    public var redis: RedisOptions
    public var litellmSharedKey: String {
        didSet { litellmAuthorization = "Bearer \(litellmSharedKey)" }
    }
    /// `Bearer <LITELLM_SHARED_KEY>`, the Authorization every allowed /v1 call carries to LiteLLM.
    public private(set) var litellmAuthorization = ""
    public var litellmMasterKey: String
    public var superAdmin: String?
    public var adminEmails: Set<String>
    public var adminDomains: Set<String>
    public var cleanupLogRetentionDays: Int
    /// Seconds between scheduled Redis cleanups run by the workers themselves (0: off).
    public var cleanupInterval: Int64
    /// Seconds between two passes of the index reconcile (INDEX_RECONCILE_SECONDS): data another
    /// writer (the Lua gateway, a script) adds reaches the admin views within this plus one pass.
    public var indexReconcileInterval: Int64
    public var auditRetentionDays: Int
    public var cookieName: String
    public var cookieSecret: [UInt8]?
    public var tokenDefaultTTL: Int64
    public var tokenMaxTTL: Int64
    public var banTTL: Int64
    public var activeUserTTL: Int64
    /// Tracking writes for one token happen at most once per this many seconds (0: every call).
    public var trackInterval: Int64
    /// The base URL shown in usage instructions; nil means "the Host the client used".
    public var publicURL: String?
    /// JWT_REQUIRE_OAUTH_WITHIN in seconds: a JWT is honoured only if its owner was seen
    /// through OAuth2 Proxy within this window; 0 (the default) turns the check off.
    public var jwtRequireOAuthWithin: Int64
    /// REVOCATION_WATCH (on by default): the /v1 check may skip Redis for a token it let
    /// through within the tracking interval while Redis pushes every revocation and ban to the
    /// worker (`RevocationWatch`). `off`: every /v1 call reads Redis.
    public var revocationWatch: Bool
    /// V1_ROUTES and V1_SHARED_OBJECT_ROUTES: the /v1 routes a JWT may reach (`V1RouteList`).
    public var v1Routes: V1RouteList
    /// V1_DECISION_CACHE_MS (0: off, the default; at most 1000): nginx may answer a repeated
    /// /v1 check from its own cache of this worker's allow for at most this long
    /// (`DecisionCache`, docs/security.md "Decision cache"). A refusal is never cached.
    public var v1DecisionCacheMS: Int64

    public static let minimumSecretBytes = 32

    public init(environment: [String: String]) throws(ConfigError) {
        let reader = EnvironmentReader(environment)
        guard let secret = reader.string("JWT_SECRET") else { throw .missing("JWT_SECRET") }
        guard secret.utf8.count >= Config.minimumSecretBytes else {
            throw .invalid("JWT_SECRET", "must be at least \(Config.minimumSecretBytes) bytes")
        }
        let previous = reader.list("JWT_PREVIOUS_SECRETS", lowercased: false)
        for old in previous where old.utf8.count < Config.minimumSecretBytes {
            throw .invalid("JWT_PREVIOUS_SECRETS", "every secret must be at least \(Config.minimumSecretBytes) bytes")
        }
        jwtIssuer = reader.string("JWT_ISSUER") ?? "llm-gateway"
        let issuers = Set([jwtIssuer] + reader.list("JWT_ACCEPTED_ISSUERS", lowercased: false))
        jwt = JWTCodec(
            secrets: ([secret] + previous).map { Array($0.utf8) }, acceptedIssuers: issuers,
            leeway: try reader.integer("JWT_LEEWAY_SECONDS", default: 30, range: 0...300))

        redis = try RedisOptions(environment: environment)

        guard let shared = reader.string("LITELLM_SHARED_KEY") else { throw .missing("LITELLM_SHARED_KEY") }
        guard let master = reader.string("LITELLM_MASTER_KEY") else { throw .missing("LITELLM_MASTER_KEY") }
        litellmSharedKey = shared
        litellmAuthorization = "Bearer \(shared)"
        litellmMasterKey = master

        superAdmin = reader.string("SUPER_ADMIN_EMAIL").map(Email.normalize)
        adminEmails = Set(reader.list("ADMIN_EMAILS", lowercased: true))
        adminDomains = Set(reader.list("ADMIN_DOMAINS", lowercased: true).map { $0.hasPrefix("@") ? String($0.dropFirst()) : $0 })
        cleanupLogRetentionDays = Int(try reader.integer("CLEANUP_LOG_RETENTION_DAYS", default: 30, range: 1...3650))
        cleanupInterval = try reader.integer("CLEANUP_INTERVAL_SECONDS", default: 0, range: 0...2_592_000)
        indexReconcileInterval = try reader.integer("INDEX_RECONCILE_SECONDS", default: 60, range: 1...86_400)
        auditRetentionDays = Int(try reader.integer("AUDIT_RETENTION_DAYS", default: 90, range: 1...3650))

        cookieName = reader.string("OAUTH2_PROXY_COOKIE_NAME") ?? "_oauth2_proxy"
        cookieSecret = reader.string("OAUTH2_PROXY_COOKIE_SECRET").map { Array($0.utf8) }

        tokenDefaultTTL = try reader.integer("TOKEN_DEFAULT_TTL", default: 2_592_000, range: 60...315_360_000)
        tokenMaxTTL = try reader.integer("TOKEN_MAX_TTL", default: 7_776_000, range: 60...315_360_000)
        banTTL = try reader.integer("BAN_TTL", default: 604_800, range: 60...31_536_000)
        activeUserTTL = try reader.integer("ACTIVE_USER_TTL", default: 86_400, range: 60...31_536_000)
        trackInterval = try reader.integer("TRACK_INTERVAL_SECONDS", default: 15, range: 0...3600)
        publicURL = reader.string("GATEWAY_PUBLIC_URL")
        jwtRequireOAuthWithin = try reader.duration("JWT_REQUIRE_OAUTH_WITHIN", range: 0...31_536_000) ?? 0
        switch reader.string("REVOCATION_WATCH")?.lowercased() {
        case nil, "on", "1", "true", "yes": revocationWatch = true
        case "off", "0", "false", "no": revocationWatch = false
        case let other?: throw .invalid("REVOCATION_WATCH", "must be on or off, got \"\(other)\"")
        }
        let sharedObjects: Bool
        switch reader.string("V1_SHARED_OBJECT_ROUTES")?.lowercased() {
        case nil, "off", "0", "false", "no": sharedObjects = false
        case "on", "1", "true", "yes": sharedObjects = true
        case let other?: throw .invalid("V1_SHARED_OBJECT_ROUTES", "must be on or off, got \"\(other)\"")
        }
        v1DecisionCacheMS = try reader.integer(
            "V1_DECISION_CACHE_MS", default: 0, range: 0...DecisionCache.maximumMS,
            reason: "must be between 0 (off) and \(DecisionCache.maximumMS) milliseconds: the longest a revocation or ban may wait")
        v1Routes = try V1RouteList(routes: reader.string("V1_ROUTES"), sharedObjects: sharedObjects)
        guard tokenDefaultTTL <= tokenMaxTTL else {
            throw .invalid("TOKEN_DEFAULT_TTL", "must not exceed TOKEN_MAX_TTL")
        }
    }
}

public enum ConfigError: Error, Equatable, CustomStringConvertible {
    case missing(String)
    case invalid(String, String)

    public var description: String {
        switch self {
        case .missing(let name): "configuration error: \(name) is required but not set"
        case .invalid(let name, let reason): "configuration error: \(name) \(reason)"
        }
    }
}

/// Reads typed settings; an empty value counts as unset.
package struct EnvironmentReader {
    let environment: [String: String]

    package init(_ environment: [String: String]) { self.environment = environment }

    package func string(_ name: String) -> String? {
        guard let value = environment[name]?.trimmingSpaces(), !value.isEmpty else { return nil }
        return value
    }

    package func list(_ name: String, lowercased: Bool) -> [String] {
        (string(name) ?? "").split(separator: ",").map { String($0).trimmingSpaces() }.filter { !$0.isEmpty }
            .map { lowercased ? Email.normalize($0) : $0 }
    }

    package func integer(
        _ name: String, default fallback: Int64, range: ClosedRange<Int64>, reason: String? = nil
    ) throws(ConfigError) -> Int64 {
        guard let text = string(name) else { return fallback }
        guard let value = Int64(text) else { throw .invalid(name, "must be a whole number, got \"\(text)\"") }
        guard range.contains(value) else {
            throw .invalid(name, reason ?? "must be between \(range.lowerBound) and \(range.upperBound)")
        }
        return value
    }

    /// A duration in seconds: `3600`, `3600s`, `90m`, `24h` or `7d`; nil when unset.
    package func duration(_ name: String, range: ClosedRange<Int64>) throws(ConfigError) -> Int64? {
        guard let text = string(name)?.lowercased() else { return nil }
        let units: [Character: Int64] = ["s": 1, "m": 60, "h": 3600, "d": 86400]
        let unit = text.last.flatMap { units[$0] }
        let digits = unit == nil ? Substring(text) : text.dropLast()
        guard let count = Int64(digits), count >= 0 else {
            throw .invalid(name, "must be a duration such as 3600, 90m, 24h or 7d, got \"\(text)\"")
        }
        let (seconds, overflow) = count.multipliedReportingOverflow(by: unit ?? 1)
        guard !overflow, range.contains(seconds) else {
            throw .invalid(name, "must be between \(range.lowerBound) and \(range.upperBound) seconds")
        }
        return seconds
    }
}

extension RedisOptions {
    /// REDIS_HOST (a path starting with `/` means a unix socket), REDIS_PORT, REDIS_PASSWORD,
    /// REDIS_DB, REDIS_CONNECT_TIMEOUT_MS, REDIS_TIMEOUT_MS, and the Sentinel settings below.
    public init(environment: [String: String]) throws(ConfigError) {
        let reader = EnvironmentReader(environment)
        self.init()
        if let host = reader.string("REDIS_HOST") {
            if host.hasPrefix("/") { unixSocket = host } else { self.host = host }
        }
        port = Int32(try reader.integer("REDIS_PORT", default: 6379, range: 1...65535))
        password = reader.string("REDIS_PASSWORD")
        database = Int(try reader.integer("REDIS_DB", default: 0, range: 0...15))
        connectTimeoutMS = Int(try reader.integer("REDIS_CONNECT_TIMEOUT_MS", default: 1000, range: 10...60000))
        commandTimeoutMS = Int(try reader.integer("REDIS_TIMEOUT_MS", default: 1000, range: 10...60000))
        try readSentinelSettings(reader)
    }

    /// REDIS_SENTINELS (`host:port` list; a `/path` entry is a unix socket), REDIS_SENTINEL_MASTER,
    /// REDIS_SENTINEL_PASSWORD, REDIS_SENTINEL_POLL_MS; REDIS_WAIT_REPLICAS (default 1 with
    /// Sentinel, 0 without) and REDIS_WAIT_TIMEOUT_MS (default 500, below REDIS_TIMEOUT_MS).
    private mutating func readSentinelSettings(_ reader: EnvironmentReader) throws(ConfigError) {
        if let list = reader.string("REDIS_SENTINELS") {
            let (addresses, bad) = SentinelSettings.parseAddresses(list)
            if let bad { throw .invalid("REDIS_SENTINELS", "must be a comma list of host:port, got \"\(bad)\"") }
            guard !addresses.isEmpty else { throw .invalid("REDIS_SENTINELS", "names no sentinel") }
            guard let master = reader.string("REDIS_SENTINEL_MASTER") else { throw .missing("REDIS_SENTINEL_MASTER") }
            sentinel = SentinelSettings(
                sentinels: addresses, masterName: master, password: reader.string("REDIS_SENTINEL_PASSWORD"),
                pollMS: Int(try reader.integer("REDIS_SENTINEL_POLL_MS", default: 1000, range: 10...60000)))
        }  // REDIS_SENTINEL_MASTER alone (compose's default) leaves the single node
        waitReplicas = Int(try reader.integer("REDIS_WAIT_REPLICAS", default: sentinel == nil ? 0 : 1, range: 0...16))
        waitTimeoutMS = Int(try reader.integer("REDIS_WAIT_TIMEOUT_MS", default: Int64(min(500, commandTimeoutMS / 2)), range: 1...60000))
        if waitReplicas > 0, waitTimeoutMS >= commandTimeoutMS {
            throw .invalid("REDIS_WAIT_TIMEOUT_MS", "must be below REDIS_TIMEOUT_MS (\(commandTimeoutMS))")
        }
    }
}
