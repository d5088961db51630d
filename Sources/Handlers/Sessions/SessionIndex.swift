import GatewayCore

/// Redis keys the gateway adds next to OAuth2 Proxy's sessions. OAuth2 Proxy encrypts the
/// session value, so the gateway cannot read a session's owner from it; the tracker
/// (`Tracking.script`) records the owner when it first sees the session's cookie, and
/// `SessionAdmin` uses these keys to list sessions with their owners and to end all sessions
/// of one person.
enum SessionIndex {
    /// Hash `{email, first_seen}` of one OAuth2 Proxy session; same TTL as the session key.
    static func key(_ sessionKey: String) -> String { "gw:session:\(sessionKey)" }
    static let keyPrefix = "gw:session:"

    /// Set of the OAuth2 Proxy session keys seen for one user; TTL as long as the longest of them.
    static func userKey(_ email: String) -> String { "gw:user_sessions:\(email)" }
    static let userKeyPrefix = "gw:user_sessions:"

    /// Unix time of the user's last request through OAuth2 Proxy; TTL JWT_REQUIRE_OAUTH_WITHIN
    /// (written only when that setting is on).
    static func oauthSeenKey(_ email: String) -> String { "gw:oauth_seen:\(email)" }
}

extension SessionIndex {
    /// KEYS: session keys. ARGV: the `gw:session:` prefix, the `gw:user_sessions:` prefix, then
    /// the `AdminIndex` keys sessions, session_expiry, session_owner.
    /// For each session key that no longer exists: drops it from the session indexes and from its
    /// owner's set. Returns how many were dropped.
    static let forgetScript = RedisScript(
        """
        local dropped = 0
        for _, key in ipairs(KEYS) do
          if redis.call('EXISTS', key) == 0 then
            local email = redis.call('HGET', ARGV[5], key) or redis.call('HGET', ARGV[1] .. key, 'email')
            if email then redis.call('SREM', ARGV[2] .. email, key) end
            redis.call('DEL', ARGV[1] .. key)
            redis.call('HDEL', ARGV[5], key)
            redis.call('ZREM', ARGV[4], key)
            dropped = dropped + redis.call('ZREM', ARGV[3], key)
          end
        end
        return dropped
        """)

    /// Drops sessions OAuth2 Proxy no longer has from the indexes (each re-checked in the script).
    @discardableResult
    static func forget(_ sessionKeys: [String], context: Context) throws(RedisError) -> Int64 {
        try forget(sessionKeys, redis: context.redis)
    }

    @discardableResult
    static func forget(_ sessionKeys: [String], redis: RedisClient) throws(RedisError) -> Int64 {
        guard !sessionKeys.isEmpty else { return 0 }
        let reply = try redis.eval(
            forgetScript, keys: sessionKeys,
            arguments: [keyPrefix, userKeyPrefix, AdminIndex.sessions, AdminIndex.sessionExpiry, AdminIndex.sessionOwner])
        if case .error(let message) = reply { throw .server(message) }
        return reply.integer ?? 0
    }
}
