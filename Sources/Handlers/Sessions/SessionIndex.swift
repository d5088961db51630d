import GatewayCore

/// Drops OAuth2 Proxy sessions that no longer exist from the gateway's session records
/// (`Keyspace.sessionOwner`, `userSessions`) and the admin indexes (`AdminIndex`): the session
/// list drops what it finds gone while paging, and the cleanup job does it for all of them.
enum SessionIndex {
    /// KEYS: session keys. ARGV: the `sessionOwner` prefix, the `userSessions` prefix, then the
    /// `AdminIndex` keys sessions, session_expiry, session_owner.
    /// For each session key that no longer exists: drops it from the session indexes and from its
    /// owner's set. Returns how many were dropped.
    static let forgetScript = RedisScript(
        lists: """
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
            forgetScript, keyList: sessionKeys,
            argumentList: [
                Keyspace.sessionOwnerPrefix, Keyspace.userSessionsPrefix, AdminIndex.sessions, AdminIndex.sessionExpiry,
                AdminIndex.sessionOwner,
            ])
        return reply.integer ?? 0
    }
}
