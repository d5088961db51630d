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

    /// KEYS: revoked:token:{jti}, active_user_deleted:{email}, active_user:{email},
    ///       active_user_metadata:{email}, active_users, gw:track:{session}, token:info:{jti},
    ///       gw:session:{session}, gw:user_sessions:{email}, gw:oauth_seen:{email}, the session id
    /// ARGV: session id ("" = check only), email, auth method, token name, now,
    ///       active-user TTL, tracking interval, JWT_REQUIRE_OAUTH_WITHIN seconds (0 = off),
    ///       client address, browser (User-Agent) ("" = unknown)
    ///
    /// For OAuth2 sessions it also keeps the session index (`SessionIndex`): the session's
    /// owner, as long as OAuth2 Proxy keeps the session, because OAuth2 Proxy encrypts it, and
    /// for the owner's "My access" page when it was first and last seen, from where and with
    /// which browser (written only when tracking is due, like everything here).
    static let script = RedisScript(
        """
        local method = ARGV[3]
        if method == 'jwt' and redis.call('EXISTS', KEYS[1]) == 1 then return {'revoked', 0} end
        local ban = redis.call('TTL', KEYS[2])
        if ban ~= -2 then return {'banned', ban} end
        local window = tonumber(ARGV[8])
        if window > 0 then
          if method == 'jwt' and redis.call('EXISTS', KEYS[10]) == 0 then return {'oauth_required', 0} end
          if method == 'oauth2' then redis.call('SET', KEYS[10], ARGV[5], 'EX', window) end
        end
        if ARGV[1] == '' then return {'ok', 0} end
        local interval = tonumber(ARGV[7])
        if interval > 0 and not redis.call('SET', KEYS[6], '1', 'NX', 'EX', interval) then return {'ok', 0} end
        local now = tonumber(ARGV[5])
        local ttl = tonumber(ARGV[6])
        redis.call('SADD', KEYS[3], ARGV[1])
        local remaining = redis.call('TTL', KEYS[3])
        if remaining < 0 then
          redis.call('EXPIRE', KEYS[3], ttl)
          remaining = ttl
        end
        local created = now + remaining - ttl
        local old = redis.call('GET', KEYS[4])
        if old then
          local ok, previous = pcall(cjson.decode, old)
          if ok and type(previous) == 'table' and tonumber(previous.created_at) then created = tonumber(previous.created_at) end
        end
        local meta = {email = ARGV[2], created_at = created, last_access = now, expires_at = now + remaining,
          expire_at = now + remaining, session_ttl = ttl, session_count = redis.call('SCARD', KEYS[3]), auth_method = method}
        if method == 'jwt' then meta.token_name = ARGV[4] end
        redis.call('SET', KEYS[4], cjson.encode(meta), 'EX', remaining)
        if method == 'oauth2' then
          local life = redis.call('TTL', KEYS[11])
          if life < 1 then life = ttl end
          redis.call('HSET', KEYS[8], 'email', ARGV[2])
          redis.call('HSETNX', KEYS[8], 'first_seen', now)
          redis.call('HSET', KEYS[8], 'last_seen', now)
          if ARGV[9] ~= '' then redis.call('HSET', KEYS[8], 'address', ARGV[9]) end
          if ARGV[10] ~= '' then redis.call('HSET', KEYS[8], 'user_agent', ARGV[10]) end
          redis.call('EXPIRE', KEYS[8], life)
          redis.call('SADD', KEYS[9], ARGV[1])
          if redis.call('TTL', KEYS[9]) < life then redis.call('EXPIRE', KEYS[9], life) end
        end
        if method == 'jwt' then
          redis.call('SADD', KEYS[5], ARGV[2])
          local info = redis.call('GET', KEYS[7])
          if info then
            local ok, token = pcall(cjson.decode, info)
            if ok and type(token) == 'table' then
              token.last_used = now
              redis.call('SET', KEYS[7], cjson.encode(token), 'KEEPTTL')
            end
          end
        end
        return {'ok', 1}
        """)

    /// The /v1 path: revocation, ban (and the OAuth2 window) as plain commands in one pipelined
    /// round trip, together with the tracking throttle (`SET NX EX`); the tracking script runs
    /// only when tracking is due, at most once per `TRACK_INTERVAL_SECONDS` per token. Measured
    /// against running the script on every call in docs/performance.md.
    static func runJWT(email: String, jti: String, tokenName: String, context: Context) throws(RedisError) -> Outcome {
        try runThrottled(.jwt, email: email, session: jti, jti: jti, tokenName: tokenName, context: context)
    }

    /// Browser requests (identity from OAuth2 Proxy), the same way: ban check and throttle in one
    /// round trip, the script (session index, active user) only when tracking is due. With
    /// JWT_REQUIRE_OAUTH_WITHIN the script runs on every request: it records the sign-in window.
    static func runOAuth2(email: String, sessionID: String?, client: Client = .unknown, context: Context) throws(RedisError) -> Outcome {
        guard context.config.jwtRequireOAuthWithin == 0 else {
            return try run(.oauth2, email: email, sessionID: sessionID, client: client, context: context)
        }
        return try runThrottled(.oauth2, email: email, session: sessionID ?? "", client: client, context: context)
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
        _ method: Method, email: String, session: String, jti: String = "", tokenName: String = "", client: Client = .unknown,
        context: Context
    ) throws(RedisError) -> Outcome {
        let config = context.config
        var commands = [["TTL", "active_user_deleted:\(email)"]]
        if method == .jwt { commands.append(["EXISTS", "revoked:token:\(jti)"]) }
        let checkWindow = method == .jwt && config.jwtRequireOAuthWithin > 0
        if checkWindow { commands.append(["EXISTS", SessionIndex.oauthSeenKey(email)]) }
        let throttled = config.trackInterval > 0 && !session.isEmpty
        if throttled {
            commands.append(["SET", "gw:track:\(method.rawValue):\(email):\(session)", "1", "NX", "EX", String(config.trackInterval)])
        }
        let replies = try context.redis.pipeline(commands)
        for reply in replies {
            if case .error(let message) = reply { throw .server(message) }
        }
        if method == .jwt, replies[1].integer == 1 { return .revoked }
        guard let ban = replies[0].integer else { throw .protocolError("unexpected TTL reply") }
        if ban != -2 { return .banned(ban) }
        if checkWindow, replies[2].integer != 1 { return .oauthSignInRequired }
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
        let keys = [
            "revoked:token:\(jti)", "active_user_deleted:\(email)", "active_user:\(email)",
            "active_user_metadata:\(email)", "active_users", "gw:track:\(method.rawValue):\(email):\(session)",
            "token:info:\(jti)", SessionIndex.key(session), SessionIndex.userKey(email), SessionIndex.oauthSeenKey(email),
            session,
        ]
        let arguments = [
            session, email, method.rawValue, tokenName, String(context.now), String(context.config.activeUserTTL),
            String(trackInterval ?? context.config.trackInterval), String(context.config.jwtRequireOAuthWithin),
            client.address, client.agent,
        ]
        let reply = try context.redis.eval(script, keys: keys, arguments: arguments)
        if case .error(let message) = reply { throw .server(message) }
        let parts = reply.array
        switch parts.first?.string {
        case "ok": return .allowed
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
