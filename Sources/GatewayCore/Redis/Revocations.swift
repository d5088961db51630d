/// The only writer of the keys `RevocationWatch` watches (`Keyspace.watchedPrefixes`): token
/// revocations, bans and the forced logout that comes with a ban. Every write that takes
/// access away waits until this process's revocation watch has seen it (`awaitChange`), so
/// the caller's next /v1 request is refused here and everywhere; no handler has to remember
/// to wait. Every write here is confirmed (`RedisClient.confirmedPipeline`: with
/// REDIS_WAIT_REPLICAS, a replica has it before the caller is told it is done).
/// `ArchitectureTests` checks that no other file names a watched key for writing.
public struct Revocations {
    let redis: RedisClient
    /// This process's watch when the /v1 check may remember tokens (nil: nothing to wait for).
    let watch: RevocationWatch?

    public init(redis: RedisClient, watch: RevocationWatch?) {
        self.redis = redis
        self.watch = watch
    }

    /// A token to revoke, with every set that lists its id.
    public struct Token: Sendable {
        public let id: String
        /// The `user:tokens:{email}` owners to remove the id from (a Lua-era record may name its
        /// owner with capitals: that spelling's set holds the id too).
        public let owners: [String]
        /// How long `revoked:token:{id}` must stay: the token's remaining lifetime plus the JWT
        /// clock leeway, so that it is refused for as long as its signature could still pass.
        public let seconds: Int64

        public init(id: String, owners: [String], seconds: Int64) {
            self.id = id
            self.owners = owners
            self.seconds = seconds
        }
    }

    /// Revokes the tokens in one MULTI/EXEC: for each, `revoked:token:{id}` = "1", its
    /// `token:info` deleted, its id removed from its owners' sets and moved from the admin token
    /// indexes to the revoked index (`Keyspace.indexTokens`, `indexRevoked`). A crash leaves
    /// either all of it or none of it.
    public func revoke(_ tokens: [Token], now: Int64) throws(RedisError) {
        guard !tokens.isEmpty else { return }
        var commands: [[String]] = []
        for token in tokens {
            let seconds = max(token.seconds, 1)
            commands.append(["SET", Keyspace.revokedToken(token.id), "1", "EX", String(seconds)])
            commands.append(["DEL", Keyspace.tokenInfo(token.id)])
            for owner in token.owners { commands.append(["SREM", Keyspace.userTokens(owner), token.id]) }
            commands.append(["ZREM", Keyspace.indexTokens, token.id])
            commands.append(
                ["ZREM", Keyspace.indexTokenExpiry] + token.owners.map { Keyspace.indexTokenExpiryMember(id: token.id, email: $0) })
            commands.append(["ZADD", Keyspace.indexRevoked, String(now + seconds), token.id])
        }
        _ = try takingAccessAway { () throws(RedisError) in try redis.transaction(commands, confirmed: true) }
    }

    /// Which of these token ids are revoked, in one round trip.
    public func areRevoked(_ ids: [String]) throws(RedisError) -> [Bool] {
        guard !ids.isEmpty else { return [] }
        return try redis.pipeline(ids.map { ["EXISTS", Keyspace.revokedToken($0)] }).map { $0.integer == 1 }
    }

    /// Bans a user and ends every OAuth2 Proxy session the tracker recorded for them, in one
    /// script: the sessions (`deleted` counts them), `active_user:{email}`, its metadata, the
    /// session index and `gw:oauth_seen:{email}` are deleted, and the ban is set for `seconds`;
    /// the admin indexes follow in the same script (the sessions leave them, the user is listed
    /// as banned until the ban ends).
    /// `sessionKeyPrefix` is `<cookie name>-`: only keys of that form are deleted. The sessions
    /// are read first, so that the script names each session and its owner record among its
    /// keys; a session recorded in between makes the script change nothing and answer -1, and
    /// the sessions are read again.
    public func banAndEndSessions(email: String, now: Int64, seconds: Int64, sessionKeyPrefix: String) throws(RedisError) -> Int64 {
        let user = Keyspace.activeUser(email)
        let sets = Keyspace.userSessions(email)
        for _ in 0..<3 {
            let members = try redis.pipeline([["SMEMBERS", user], ["SMEMBERS", sets]]).flatMap(\.strings)
            var sessions: [String] = []
            for id in Set(members).sorted() where Revocations.isSessionKey(id, prefix: sessionKeyPrefix) {
                sessions += [id, Keyspace.sessionOwner(id)]
            }
            let reply = try takingAccessAway { () throws(RedisError) in
                try redis.eval(
                    Revocations.banScript,
                    keys: [
                        "active_user": user, "metadata": Keyspace.activeUserMetadata(email), "ban": Keyspace.ban(email),
                        "user_sessions": sets, "oauth_seen": Keyspace.oauthSeen(email), "idx_sessions": Keyspace.indexSessions,
                        "idx_session_expiry": Keyspace.indexSessionExpiry, "idx_session_owner": Keyspace.indexSessionOwner,
                        "idx_active_users": Keyspace.indexActiveUsers, "idx_active_until": Keyspace.indexActiveUntil,
                        "idx_bans": Keyspace.indexBans,
                    ],
                    arguments: ["now": String(now), "ban_seconds": String(seconds), "session_prefix": sessionKeyPrefix, "email": email],
                    moreKeys: sessions, confirmed: true)
            }
            if let deleted = reply.integer, deleted >= 0 { return deleted }
        }
        throw .protocolError("ban of \(email): sessions kept being recorded while they were ended")
    }

    /// `<prefix><32 lowercase hex>`: an OAuth2 Proxy session key (the script checks the same).
    static func isSessionKey(_ id: String, prefix: String) -> Bool {
        id.utf8.count == prefix.utf8.count + 32 && id.hasPrefix(prefix)
            && id.utf8.dropFirst(prefix.utf8.count).allSatisfy { (48...57).contains($0) || (97...102).contains($0) }
    }

    /// `sessions`: each session key, then its `sessionOwner` record, as read before the call.
    static let banScript = RedisScript(
        keys: [
            "active_user", "metadata", "ban", "user_sessions", "oauth_seen", "idx_sessions", "idx_session_expiry",
            "idx_session_owner", "idx_active_users", "idx_active_until", "idx_bans",
        ],
        arguments: ["now", "ban_seconds", "session_prefix", "email"], moreKeys: "sessions",
        """
        local prefix = ARG.session_prefix
        local named = {}
        for i = 1, #sessions, 2 do named[sessions[i]] = true end
        for _, set in ipairs({KEY.active_user, KEY.user_sessions}) do
          for _, id in ipairs(redis.call('SMEMBERS', set)) do
            if #id == #prefix + 32 and string.sub(id, 1, #prefix) == prefix
               and not string.find(id, '[^0-9a-f]', #prefix + 1) and not named[id] then
              return -1
            end
          end
        end
        local deleted = 0
        for i = 1, #sessions, 2 do
          local id = sessions[i]
          deleted = deleted + redis.call('DEL', id)
          redis.call('DEL', sessions[i + 1])
          redis.call('ZREM', KEY.idx_sessions, id)
          redis.call('ZREM', KEY.idx_session_expiry, id)
          redis.call('HDEL', KEY.idx_session_owner, id)
        end
        redis.call('DEL', KEY.active_user, KEY.metadata, KEY.user_sessions, KEY.oauth_seen)
        redis.call('SET', KEY.ban, ARG.now, 'EX', ARG.ban_seconds)
        local ends = tonumber(ARG.now) + tonumber(ARG.ban_seconds)
        -- A person already listed keeps the time of their last access (the list's order).
        redis.call('ZADD', KEY.idx_active_users, 'NX', ARG.now, ARG.email)
        redis.call('ZADD', KEY.idx_active_until, ends, ARG.email)
        redis.call('ZADD', KEY.idx_bans, ends, ARG.email)
        return deleted
        """)

    /// Lifts a ban, under every spelling given (the Lua gateway keyed bans by the e-mail as
    /// OAuth2 Proxy spelled it, capitals kept); false when none was banned. The admin indexes
    /// follow in the same script: each spelling leaves the ban index, and stays listed only while
    /// its `active_user` key lives. Gives access back, so nothing waits: the /v1 check never
    /// remembers a refusal.
    public func unban(_ spellings: [String], now: Int64) throws(RedisError) -> Bool {
        guard !spellings.isEmpty else { return false }
        var lifted = false
        for email in spellings {
            let reply = try redis.eval(
                Revocations.unbanScript,
                keys: [
                    "ban": Keyspace.ban(email), "active_user": Keyspace.activeUser(email), "idx_bans": Keyspace.indexBans,
                    "idx_active_users": Keyspace.indexActiveUsers, "idx_active_until": Keyspace.indexActiveUntil,
                ],
                arguments: ["email": email, "now": String(now)], confirmed: true)
            lifted = lifted || reply.integer == 1
        }
        return lifted
    }

    /// Lifts one spelling's ban; returns 1 when a ban was lifted.
    static let unbanScript = RedisScript(
        keys: ["ban", "active_user", "idx_bans", "idx_active_users", "idx_active_until"], arguments: ["email", "now"],
        """
        local lifted = redis.call('DEL', KEY.ban)
        redis.call('ZREM', KEY.idx_bans, ARG.email)
        local life = redis.call('TTL', KEY.active_user)
        if life == -2 then
          redis.call('ZREM', KEY.idx_active_users, ARG.email)
          redis.call('ZREM', KEY.idx_active_until, ARG.email)
        elseif life > 0 then
          redis.call('ZADD', KEY.idx_active_until, tonumber(ARG.now) + life, ARG.email)
        end
        return lifted
        """)

    /// Runs a write that takes access away, then waits until this process's revocation watch
    /// saw it (Redis sends the invalidation to every watch in the same turn as its answer).
    private func takingAccessAway<T>(_ write: () throws(RedisError) -> T) throws(RedisError) -> T {
        let before = watch?.generationBeforeRead()
        let result = try write()
        watch?.awaitChange(from: before)
        return result
    }
}
