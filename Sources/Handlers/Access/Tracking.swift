import FCGIRuntime
import GatewayCore

/// The per-request policy in one Redis round trip: revocation (JWT only), ban, and the
/// active-user tracking both the Lua tracker (OAuth2 sessions) and the Lua auth handler
/// (JWT users) did, as one server-side script so that the decision and the writes are atomic.
enum Tracking {
    enum Outcome: Equatable {
        case allowed
        case revoked
        /// Seconds left on the ban; -1 for a ban without expiry.
        case banned(Int64)
        /// JWT only, with JWT_REQUIRE_OAUTH_WITHIN set: the owner was not seen through OAuth2
        /// Proxy within the window.
        case oauthSignInRequired
    }

    enum Method: String {
        case oauth2
        case jwt
    }

    /// For OAuth2 sessions it also keeps the session index (`Keyspace.sessionOwner`,
    /// `userSessions`): the session's owner, as long as OAuth2 Proxy keeps the session, because
    /// OAuth2 Proxy encrypts it, and for the owner's "My access" page when it was first and last
    /// seen, from where and with which browser (written only when tracking is due, like
    /// everything here). `session` empty: checks only; `address`, `user_agent` empty: unknown.
    /// Every tracking write also keeps the admin indexes (`AdminIndex`: the user's last access
    /// and listing end, the session's first sighting, expiry and owner), in this same script
    /// call, so the admin views stay current without a round trip more on any request.
    static let script = RedisScript(
        keys: [
            "revoked", "ban", "active_user", "metadata", "active_users", "throttle", "token_info", "session_owner",
            "user_sessions", "oauth_seen", "oauth2_session", "idx_sessions", "idx_session_expiry", "idx_session_owner",
            "idx_active_users", "idx_active_until", "audit",
        ],
        arguments: [
            "session", "email", "method", "token_name", "now", "active_user_ttl", "track_interval", "oauth_window", "address",
            "user_agent", "audit_min_id",
        ],
        """
        local method = ARG.method
        if method == 'jwt' and redis.call('EXISTS', KEY.revoked) == 1 then return {'revoked', 0} end
        local ban = redis.call('TTL', KEY.ban)
        if ban ~= -2 then return {'banned', ban} end
        local window = tonumber(ARG.oauth_window)
        if window > 0 then
          if method == 'jwt' and redis.call('EXISTS', KEY.oauth_seen) == 0 then return {'oauth_required', 0} end
          if method == 'oauth2' then redis.call('SET', KEY.oauth_seen, ARG.now, 'EX', window) end
        end
        if ARG.session == '' then return {'ok', 0} end
        local interval = tonumber(ARG.track_interval)
        if interval > 0 and not redis.call('SET', KEY.throttle, '1', 'NX', 'EX', interval) then return {'ok', 0} end
        local now = tonumber(ARG.now)
        local ttl = tonumber(ARG.active_user_ttl)
        local signin = 0
        redis.call('SADD', KEY.active_user, ARG.session)
        local remaining = redis.call('TTL', KEY.active_user)
        if remaining < 0 then
          redis.call('EXPIRE', KEY.active_user, ttl)
          remaining = ttl
        end
        local created = now + remaining - ttl
        local old = redis.call('GET', KEY.metadata)
        if old then
          local ok, previous = pcall(cjson.decode, old)
          if ok and type(previous) == 'table' and tonumber(previous.created_at) then created = tonumber(previous.created_at) end
        end
        local meta = {email = ARG.email, created_at = created, last_access = now, expires_at = now + remaining,
          expire_at = now + remaining, session_ttl = ttl, session_count = redis.call('SCARD', KEY.active_user), auth_method = method}
        if method == 'jwt' then meta.token_name = ARG.token_name end
        redis.call('SET', KEY.metadata, cjson.encode(meta), 'EX', remaining)
        redis.call('ZADD', KEY.idx_active_users, now, ARG.email)
        redis.call('ZADD', KEY.idx_active_until, now + remaining, ARG.email)
        if method == 'oauth2' then
          local life = redis.call('TTL', KEY.oauth2_session)
          local present = life ~= -2
          if life < 1 then life = ttl end
          redis.call('HSET', KEY.session_owner, 'email', ARG.email)
          if redis.call('HSETNX', KEY.session_owner, 'first_seen', now) == 1 then
            signin = 1
            local details = {method = 'oauth2'}
            if ARG.address ~= '' then details.address = ARG.address end
            redis.call('XADD', KEY.audit, 'MINID', '~', ARG.audit_min_id, '*', 'ts', ARG.now, 'actor', ARG.email,
              'action', '\(AuditAction.sessionSignIn.rawValue)', 'target', ARG.email, 'result', 'ok', 'details', cjson.encode(details))
          end
          redis.call('HSET', KEY.session_owner, 'last_seen', now)
          if ARG.address ~= '' then redis.call('HSET', KEY.session_owner, 'address', ARG.address) end
          if ARG.user_agent ~= '' then redis.call('HSET', KEY.session_owner, 'user_agent', ARG.user_agent) end
          redis.call('EXPIRE', KEY.session_owner, life)
          redis.call('SADD', KEY.user_sessions, ARG.session)
          if redis.call('TTL', KEY.user_sessions) < life then redis.call('EXPIRE', KEY.user_sessions, life) end
          if present then
            redis.call('ZADD', KEY.idx_sessions, 'NX', now, ARG.session)
            redis.call('ZADD', KEY.idx_session_expiry, now + life, ARG.session)
            redis.call('HSET', KEY.idx_session_owner, ARG.session, ARG.email)
          end
        end
        if method == 'jwt' then
          redis.call('SADD', KEY.active_users, ARG.email)
          local info = redis.call('GET', KEY.token_info)
          if info then
            local ok, token = pcall(cjson.decode, info)
            if ok and type(token) == 'table' then
              token.last_used = now
              redis.call('SET', KEY.token_info, cjson.encode(token), 'KEEPTTL')
            end
          end
        end
        return {'ok', 1 + signin}
        """)

    /// The /v1 path: revocation, ban (and the OAuth2 window) as plain commands in one pipelined
    /// round trip, together with the tracking throttle (`SET NX EX`); the tracking script runs
    /// only when tracking is due, at most once per `TRACK_INTERVAL_SECONDS` per token. Measured
    /// against running the script on every call in docs/performance.md.
    /// `spelledEmail`: the token's e-mail when not lowercase; its Lua-era ban key
    /// (`active_user_deleted:Alice@Example.com`) is read in the same round trip.
    static func runJWT(
        email: String, jti: String, tokenName: String, spelledEmail: String? = nil, context: Context
    ) throws(RedisError) -> Outcome {
        try runThrottled(.jwt, email: email, session: jti, jti: jti, tokenName: tokenName, spelledEmail: spelledEmail, context: context)
    }

    /// Browser requests (identity from OAuth2 Proxy), the same way: ban check and throttle in one
    /// round trip, the script (session index, active user) only when tracking is due. With
    /// JWT_REQUIRE_OAUTH_WITHIN the script runs on every request: it records the sign-in window.
    /// `spelledEmail`: the e-mail as OAuth2 Proxy sent it, when not lowercase (Lua-era ban keys).
    static func runOAuth2(
        email: String, sessionID: String?, spelledEmail: String? = nil, client: Client = .unknown, context: Context
    ) throws(RedisError) -> Outcome {
        guard context.config.jwtRequireOAuthWithin == 0 else {
            if let spelledEmail, let ban = try legacyBan(spelledEmail, context: context) { return .banned(ban) }
            return try run(.oauth2, email: email, sessionID: sessionID, client: client, context: context)
        }
        return try runThrottled(
            .oauth2, email: email, session: sessionID ?? "", spelledEmail: spelledEmail, client: client, context: context)
    }

    /// Seconds left on a ban stored under this exact spelling of the e-mail; nil without one.
    private static func legacyBan(_ spelledEmail: String, context: Context) throws(RedisError) -> Int64? {
        let ban = try context.redis.integer("TTL", Keyspace.ban(spelledEmail))
        return ban == -2 ? nil : ban
    }

    /// Where a browser request came from, recorded per session for its owner's "My access" page:
    /// nginx's REMOTE_ADDR and the User-Agent header (nginx passes it on browser routes only),
    /// at most `maxAgentBytes` of it.
    struct Client {
        var address = ""
        var agent = ""
        static let unknown = Client()
        static let maxAgentBytes = 256

        init() {}

        init(_ request: Request) {
            address = String((request.params["REMOTE_ADDR"] ?? "").prefix(64))
            var text = request.header("User-Agent") ?? ""
            while text.utf8.count > Client.maxAgentBytes { text.removeLast() }
            agent = text
        }
    }

    private static func runThrottled(
        _ method: Method, email: String, session: String, jti: String = "", tokenName: String = "", spelledEmail: String? = nil,
        client: Client = .unknown,
        context: Context
    ) throws(RedisError) -> Outcome {
        let config = context.config
        var commands = [["TTL", Keyspace.ban(email)]]
        let revokedAt = commands.count
        if method == .jwt { commands.append(["EXISTS", Keyspace.revokedToken(jti)]) }
        let spelledBanAt = commands.count
        if let spelledEmail { commands.append(["TTL", Keyspace.ban(spelledEmail)]) }
        let windowAt = commands.count
        let checkWindow = method == .jwt && config.jwtRequireOAuthWithin > 0
        if checkWindow { commands.append(["EXISTS", Keyspace.oauthSeen(email)]) }
        let throttled = config.trackInterval > 0 && !session.isEmpty
        if throttled {
            let throttle = Keyspace.trackThrottle(method: method.rawValue, email: email, session: session)
            commands.append(["SET", throttle, "1", "NX", "EX", String(config.trackInterval)])
        }
        let replies = try context.redis.pipeline(commands)
        if method == .jwt, replies[revokedAt].integer == 1 { return .revoked }
        guard let ban = replies[0].integer else { throw .protocolError("unexpected TTL reply") }
        if ban != -2 { return .banned(ban) }
        if spelledEmail != nil {
            guard let spelledBan = replies[spelledBanAt].integer else { throw .protocolError("unexpected TTL reply") }
            if spelledBan != -2 { return .banned(spelledBan) }
        }
        if checkWindow, replies[windowAt].integer != 1 { return .oauthSignInRequired }
        if session.isEmpty { return .allowed }  // nothing to track without a session
        if throttled, replies[replies.count - 1] == .null { return .allowed }  // tracked recently
        return try run(
            method, email: email, sessionID: session, jti: jti, tokenName: tokenName, trackInterval: 0, client: client, context: context)
    }

    /// Runs the checks and, for an allowed caller with a session id, the tracking writes.
    static func run(
        _ method: Method, email: String, sessionID: String?, jti: String = "", tokenName: String = "",
        trackInterval: Int64? = nil, client: Client = .unknown, context: Context
    ) throws(RedisError) -> Outcome {
        let session = sessionID ?? ""
        let config = context.config
        let reply = try context.redis.eval(
            script,
            keys: [
                "revoked": Keyspace.revokedToken(jti), "ban": Keyspace.ban(email), "active_user": Keyspace.activeUser(email),
                "metadata": Keyspace.activeUserMetadata(email), "active_users": Keyspace.activeUsers,
                "throttle": Keyspace.trackThrottle(method: method.rawValue, email: email, session: session),
                "token_info": Keyspace.tokenInfo(jti), "session_owner": Keyspace.sessionOwner(session),
                "user_sessions": Keyspace.userSessions(email), "oauth_seen": Keyspace.oauthSeen(email), "oauth2_session": session,
                "idx_sessions": AdminIndex.sessions, "idx_session_expiry": AdminIndex.sessionExpiry,
                "idx_session_owner": AdminIndex.sessionOwner, "idx_active_users": AdminIndex.activeUsers,
                "idx_active_until": AdminIndex.activeUntil, "audit": Keyspace.audit,
            ],
            arguments: [
                "session": session, "email": email, "method": method.rawValue, "token_name": tokenName,
                "now": String(context.now), "active_user_ttl": String(config.activeUserTTL),
                "track_interval": String(trackInterval ?? config.trackInterval),
                "oauth_window": String(config.jwtRequireOAuthWithin), "address": client.address, "user_agent": client.agent,
                "audit_min_id": String(max(0, context.now - Int64(config.auditRetentionDays) * 86400) * 1000),
            ])
        let parts = reply.array
        switch parts.first?.string {
        case "ok":
            // 2: the first request of a new OAuth2 Proxy session, recorded as a sign-in in the audit log.
            if parts.count > 1, parts[1].integer == 2 {
                GatewayMetrics.shared.action(.sessionSignIn)
                context.logger.notice("audit", metadata: ["audit.action": "\(AuditAction.sessionSignIn.rawValue)", "audit.result": "ok"])
            }
            return .allowed
        case "revoked": return .revoked
        case "oauth_required": return .oauthSignInRequired
        case "banned": return .banned(parts.count > 1 ? parts[1].integer ?? -1 : -1)
        default: throw .protocolError("unexpected tracking reply")
        }
    }

    /// "User is banned for D days H hours", as the Lua gateway worded it.
    static func banMessage(remaining: Int64) -> String {
        guard remaining > 0 else { return "User is temporarily banned" }
        return "User is banned for \(remaining / 86400) days \(remaining % 86400 / 3600) hours"
    }
}
