import GatewayCore

/// Drops OAuth2 Proxy sessions that no longer exist from the gateway's session records
/// (`Keyspace.sessionOwner`, `userSessions`) and the admin indexes (`AdminIndex`): the session
/// list drops what it finds gone while paging, and the cleanup job does it for all of them.
enum SessionIndex {
    /// KEYS: the `AdminIndex` keys sessions, session_expiry, session_owner, then for each session
    /// its key, its `sessionOwner` record and its owner's `userSessions` set. ARGV: each session's
    /// owner as read before the call ("" for none).
    /// For each session key that no longer exists and whose owner is still the one read: drops it
    /// from the session indexes and from its owner's set (a session whose owner changed in between
    /// is left to the next pass). Returns how many were dropped.
    static let forgetScript = RedisScript(
        lists: """
            local dropped = 0
            for i = 1, #ARGV do
              local key, owner, set = KEYS[3 * i + 1], KEYS[3 * i + 2], KEYS[3 * i + 3]
              if redis.call('EXISTS', key) == 0 then
                local email = redis.call('HGET', KEYS[3], key) or redis.call('HGET', owner, 'email')
                if (email or '') == ARGV[i] then
                  if email then redis.call('SREM', set, key) end
                  redis.call('DEL', owner)
                  redis.call('HDEL', KEYS[3], key)
                  redis.call('ZREM', KEYS[2], key)
                  dropped = dropped + redis.call('ZREM', KEYS[1], key)
                end
              end
            end
            return dropped
            """)

    /// Drops sessions OAuth2 Proxy no longer has from the indexes (each re-checked in the script).
    @discardableResult
    static func forget(_ sessionKeys: [String], context: Context) throws(RedisError) -> Int64 {
        try forget(sessionKeys, redis: context.redis)
    }

    /// Reads each session's owner first (one round trip), so that the script names every set it
    /// changes among its keys.
    @discardableResult
    static func forget(_ sessionKeys: [String], redis: RedisClient) throws(RedisError) -> Int64 {
        guard !sessionKeys.isEmpty else { return 0 }
        let found = try redis.pipeline(
            sessionKeys.flatMap { [["HGET", AdminIndex.sessionOwner, $0], ["HGET", Keyspace.sessionOwner($0), "email"]] })
        var keys = [AdminIndex.sessions, AdminIndex.sessionExpiry, AdminIndex.sessionOwner]
        var owners: [String] = []
        for (index, key) in sessionKeys.enumerated() {
            let email = found[2 * index].string ?? found[2 * index + 1].string ?? ""
            keys += [key, Keyspace.sessionOwner(key), Keyspace.userSessions(email)]
            owners.append(email)
        }
        return try redis.eval(forgetScript, keyList: keys, argumentList: owners).integer ?? 0
    }
}
