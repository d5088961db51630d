/// Every Redis key the gateway reads or writes, and every pattern it scans: the only place in
/// `Sources` where a key is spelled out (`KeyspaceTests` checks this). docs/architecture.md,
/// "Redis keyspace", lists the same keys with their types and lifetimes.
///
/// The first group is the Lua gateway's keyspace, kept as it was so that both gateways can run
/// on one live Redis; the `gw:` keys are this gateway's additions. E-mails in keys are
/// lowercased (`Email.normalize`), except where a Lua-era record is read as it was stored.
public enum Keyspace {
    // MARK: The Lua gateway's keys

    /// Set of a user's token ids. No TTL (ids of expired tokens are pruned on listing and by
    /// the cleanup).
    @inlinable public static func userTokens(_ email: String) -> String { "\(userTokensPrefix)\(email)" }
    @inlinable public static var userTokensPrefix: String { "user:tokens:" }

    /// A token's record, JSON `{token_id, user_email, token_name, scopes, created_at, expires_at,
    /// last_used}`; TTL the token's lifetime. The JWT itself is never stored.
    @inlinable public static func tokenInfo(_ id: String) -> String { "\(tokenInfoPrefix)\(id)" }
    @inlinable public static var tokenInfoPrefix: String { "token:info:" }

    /// `"1"` while a revoked token could still pass its signature check. Watched.
    @inlinable public static func revokedToken(_ id: String) -> String { "\(revokedTokenPrefix)\(id)" }
    @inlinable public static var revokedTokenPrefix: String { "revoked:token:" }

    /// Set of a user's session ids (OAuth2 Proxy ticket ids, JWT ids); TTL `ACTIVE_USER_TTL`,
    /// set when the key is created and never extended.
    @inlinable public static func activeUser(_ email: String) -> String { "\(activeUserPrefix)\(email)" }
    @inlinable public static var activeUserPrefix: String { "active_user:" }

    /// JSON about an active user (first and last access, session count, auth method); same
    /// expiry as `activeUser`.
    @inlinable public static func activeUserMetadata(_ email: String) -> String { "\(activeUserMetadataPrefix)\(email)" }
    @inlinable public static var activeUserMetadataPrefix: String { "active_user_metadata:" }

    /// Set of the e-mails seen through the JWT path. No TTL.
    public static let activeUsers = "active_users"

    /// The ban: unix time it was issued; TTL `BAN_TTL`. Watched. (The Lua gateway's name: the
    /// user's sessions were "deleted recently".)
    @inlinable public static func ban(_ email: String) -> String { "\(banPrefix)\(email)" }
    @inlinable public static var banPrefix: String { "active_user_deleted:" }

    /// Set of the admins added at run time.
    public static let admins = "admin:emails"

    /// Sorted set of cleanup ids by unix time; entries older than the retention are trimmed.
    public static let cleanupLogs = "cleanup:logs"
    /// One cleanup run's JSON record; TTL `CLEANUP_LOG_RETENTION_DAYS`.
    public static func cleanupLog(_ id: String) -> String { "cleanup:log:\(id)" }

    // MARK: OAuth2 Proxy's keys (written by OAuth2 Proxy, or by dev-identity in development)

    /// An OAuth2 Proxy session: `<cookie name>-<32 hex>`, the value encrypted; TTL its
    /// `cookie_expire`. `OAuth2Cookie.isSessionKey` says whether a key has this form.
    public static func oauth2Session(cookieName: String, hex: String) -> String { cookieName + "-" + hex }
    public static func oauth2SessionPattern(cookieName: String) -> String { cookieName + "-*" }

    // MARK: The gateway's own keys

    /// Throttles active-user tracking: at most one tracking write per session or token per
    /// `TRACK_INTERVAL_SECONDS` (the key's TTL).
    @inlinable public static func trackThrottle(method: String, email: String, session: String) -> String {
        "gw:track:\(method):\(email):\(session)"
    }

    /// Hash `{email, first_seen}`: the owner of one OAuth2 Proxy session; TTL that of the session.
    /// OAuth2 Proxy encrypts the session value, so the gateway cannot read the owner from it: the
    /// tracker (`Tracking.script`) records it when it first sees the session's cookie, and the
    /// session admin lists sessions with their owners and ends all sessions of one person.
    @inlinable public static func sessionOwner(_ sessionKey: String) -> String { "\(sessionOwnerPrefix)\(sessionKey)" }
    @inlinable public static var sessionOwnerPrefix: String { "gw:session:" }

    /// Set of the OAuth2 Proxy session keys seen for one user; TTL that of the longest-lived one.
    @inlinable public static func userSessions(_ email: String) -> String { "\(userSessionsPrefix)\(email)" }
    @inlinable public static var userSessionsPrefix: String { "gw:user_sessions:" }

    /// Unix time of the user's last request through OAuth2 Proxy; TTL
    /// `JWT_REQUIRE_OAUTH_WITHIN` (written only with that setting on).
    @inlinable public static func oauthSeen(_ email: String) -> String { "gw:oauth_seen:\(email)" }

    /// Stream of admin actions; trimmed by age (`AUDIT_RETENTION_DAYS`) on every write.
    public static let audit = "gw:audit"

    /// One scheduled cleanup per interval across worker processes; TTL `CLEANUP_INTERVAL_SECONDS`.
    public static let cleanupLock = "gw:cleanup:lock"
    /// Hash: the cleanup job (id, state, phase, progress, counts, cancel request); kept after it ends.
    public static let cleanupJob = "gw:cleanup:job"
    /// The running cleanup job's id: one job at a time across processes and hosts; TTL 30 s,
    /// renewed by the job while it runs.
    public static let cleanupJobLock = "gw:cleanup:job:lock"

    /// The e-mail of the person who created a stored object (a response, file, batch, vector
    /// store, assistant, thread, fine-tuning job), by the id LiteLLM answered with; TTL
    /// `OBJECT_OWNER_TTL_DAYS` (30). Written by LiteLLM's gateway callback
    /// (deploy/litellm/gateway_isolation.py, which spells the same prefix) when the object is
    /// created; read by the /v1 check of that object's paths (`ObjectOwners`).
    @inlinable public static func objectOwner(_ id: String) -> String { "\(objectOwnerPrefix)\(id)" }
    @inlinable public static var objectOwnerPrefix: String { "gw:owner:" }

    // MARK: The admin indexes (docs/admin-indexes.md)

    /// Sorted set: token id → `created_at` (the admin token list, newest first).
    public static let indexTokens = "gw:idx:tokens"
    /// Sorted set: `"{id} {email}"` → `expires_at` (counts of active and expired tokens).
    public static let indexTokenExpiry = "gw:idx:token_expiry"
    /// A member of `indexTokenExpiry`: the id and the `user:tokens:{email}` set that lists it.
    public static func indexTokenExpiryMember(id: String, email: String) -> String { "\(id) \(email)" }
    /// Sorted set: token id → end of its `revoked:token:{id}` record (the revoked count).
    public static let indexRevoked = "gw:idx:revoked"
    /// Sorted set: OAuth2 Proxy session key → first seen (the session list, newest first).
    public static let indexSessions = "gw:idx:sessions"
    /// Sorted set: OAuth2 Proxy session key → when the session key expires, as last seen.
    public static let indexSessionExpiry = "gw:idx:session_expiry"
    /// Hash: OAuth2 Proxy session key → owner's e-mail.
    public static let indexSessionOwner = "gw:idx:session_owner"
    /// Sorted set: e-mail → last access (active users and banned users, newest first).
    public static let indexActiveUsers = "gw:idx:active_users"
    /// Sorted set: e-mail → until when the user is listed (end of `active_user:{email}` or of the ban).
    public static let indexActiveUntil = "gw:idx:active_until"
    /// Sorted set: e-mail → end of the ban; far future without expiry.
    public static let indexBans = "gw:idx:bans"
    /// String: the layout version the indexes were built for; absent or older: a worker builds them.
    public static let indexVersion = "gw:idx:version"
    /// Hash: the index pass running or last run (build or reconcile): SCAN cursor, progress, times.
    public static let indexBuild = "gw:idx:build"
    /// String: the worker process running an index pass; TTL 30 s, renewed per batch.
    public static let indexBuildLock = "gw:idx:build:lock"
    /// Sorted set (all scores 0, read by lex range): `"{key lowercased} {key}"` for the Lua
    /// gateway's keys spelled with capitals in the e-mail (`user:tokens:Alice@Example.com`).
    public static let indexLegacyKeys = "gw:idx:legacy_keys"
    /// A member of `indexLegacyKeys`.
    public static func indexLegacyKeyMember(_ key: String) -> String { "\(key.lowercased()) \(key)" }

    // MARK: Watching

    /// The prefixes `RevocationWatch` asks Redis to report changes under: revocations and bans.
    /// `Revocations` is the only writer of keys under them.
    public static let watchedPrefixes = [revokedTokenPrefix, banPrefix]

    /// The pub/sub channel Redis sends key invalidations to (`CLIENT TRACKING … REDIRECT`).
    public static let invalidationChannel = "__redis__:invalidate"

    /// A SCAN `MATCH` pattern for every key under a prefix.
    public static func pattern(prefix: String) -> String { prefix + "*" }

    /// Every key as docs/architecture.md lists it (placeholders in braces), in the table's order.
    public static let documented: [String] = [
        userTokens("{email}"), tokenInfo("{token_id}"), revokedToken("{token_id}"), activeUser("{email}"),
        activeUserMetadata("{email}"), activeUsers, ban("{email}"), admins, cleanupLogs, cleanupLog("{cleanup_id}"),
        oauth2Session(cookieName: "{cookie_name}", hex: "{32 hex}"),
        trackThrottle(method: "{method}", email: "{email}", session: "{session}"), sessionOwner("{session_key}"),
        userSessions("{email}"), oauthSeen("{email}"), objectOwner("{object_id}"), audit, cleanupLock, cleanupJob, cleanupJobLock,
        indexTokens,
        indexTokenExpiry, indexRevoked, indexSessions, indexSessionExpiry, indexSessionOwner, indexActiveUsers,
        indexActiveUntil, indexBans, indexVersion, indexBuild, indexBuildLock, indexLegacyKeys,
    ]
}
