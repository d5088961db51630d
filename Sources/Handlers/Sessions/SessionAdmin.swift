import FCGIRuntime
import GatewayCore

/// Replaces `session_admin.lua`: `/api/admin/sessions…` (SPEC 5.11), admins only (the route's
/// access rule). Lists OAuth2 Proxy sessions with their owners (from `SessionIndex`), active
/// users with their ban state, and ends a person's sessions for real: revoke-user deletes every
/// OAuth2 Proxy session the tracker recorded for them and bans them (SPEC 7.6).
/// Every change is recorded in the audit log.
enum SessionAdmin {
    // MARK: - Reading

    /// `GET /api/admin/sessions?limit=&cursor=`: OAuth2 Proxy sessions, each with its owner
    /// where the tracker has seen it; `next_cursor` pages on (a SCAN cursor).
    static func list(_ request: Request, _ context: Context) throws -> Response {
        let page = try ScanPage.read(request, command: ["SCAN"], match: sessionPattern(context), redis: context.redis)
        let keys = page.items.filter { isSessionKey($0, context) }
        var sessions: [JSON] = []
        for (key, replies) in zip(
            keys, try chunkedPipeline(keys, context: context) { [["TTL", $0], ["HMGET", SessionIndex.key($0), "email", "first_seen"]] })
        {
            let ttl = replies[0].integer ?? -2
            guard ttl != -2 else { continue }
            let owner = replies[1].array
            sessions.append([
                "session_key": .string(key), "email": JSON(owner.first?.string),
                "created_at": JSON(owner.count > 1 ? owner[1].integer : nil),
                "expires_at": ttl >= 0 ? .int(context.now + ttl) : .null, "ttl_seconds": .int(ttl),
            ])
        }
        let body: JSON = ["sessions": .array(sessions), "total": JSON(sessions.count), "next_cursor": JSON(page.nextCursor)]
        return .json(200, body.text)
    }

    /// `GET /api/admin/sessions/active-users?limit=`: OAuth2 and JWT users together, banned
    /// users without sessions too, newest `last_access` first (so the whole set is read;
    /// it is bounded by the 24-hour and ban lifetimes). `limit` keeps the newest entries.
    static func activeUsers(_ request: Request, _ context: Context) throws -> Response {
        let limit = try Paging.limit(request)
        let active = try context.redis.scanAll(["SCAN"], match: "active_user:*").map { String($0.dropFirst("active_user:".count)) }
        let banned = try context.redis.scanAll(["SCAN"], match: "active_user_deleted:*").map {
            String($0.dropFirst("active_user_deleted:".count))
        }
        let emails = Array(Set(active + banned))
        var users: [(lastAccess: Int64, entry: JSON, banned: Bool)] = []
        let replies = try chunkedPipeline(emails, context: context) { email in
            [
                ["GET", "active_user_metadata:\(email)"], ["SCARD", "active_user:\(email)"], ["TTL", "active_user:\(email)"],
                ["TTL", "active_user_deleted:\(email)"], ["GET", "active_user_deleted:\(email)"],
            ]
        }
        for (email, reply) in zip(emails, replies) {
            let metadata = reply[0].string.flatMap { try? JSON.parse($0) } ?? .object([])
            let sessionTTL = reply[2].integer ?? -2
            let banTTL = reply[3].integer ?? -2
            let isBanned = banTTL != -2
            guard sessionTTL != -2 || isBanned else { continue }
            let bannedAt = reply[4].integer
            let lastAccess = number(metadata["last_access"]) ?? (sessionTTL == -2 ? bannedAt : nil) ?? 0
            let entry: JSON = [
                "email": .string(email), "session_count": .int(reply[1].integer ?? 0),
                "created_at": .int(number(metadata["created_at"]) ?? (sessionTTL == -2 ? bannedAt : nil) ?? 0),
                "last_access": .int(lastAccess), "expires_at": .int(number(metadata["expires_at"]) ?? 0),
                "ttl_seconds": .int(max(sessionTTL, 0)), "is_banned": .bool(isBanned),
                "ban_remaining_seconds": .int(isBanned ? banTTL : 0), "auth_method": metadata["auth_method"] ?? .null,
            ]
            users.append((lastAccess, entry, isBanned))
        }
        users.sort { ($0.lastAccess, $1.entry["email"]?.stringValue ?? "") > ($1.lastAccess, $0.entry["email"]?.stringValue ?? "") }
        let total = users.count
        let bannedCount = users.filter(\.banned).count
        if let limit { users = Array(users.prefix(limit)) }
        let body: JSON = [
            "active_users": .array(users.map(\.entry)), "total": JSON(total), "banned_count": JSON(bannedCount),
            "current_time": .int(context.now),
        ]
        return .json(200, body.text)
    }

    /// `GET /api/admin/sessions/stats`: session counts per owner; sessions whose owner the
    /// tracker has not seen are counted in `unattributed_sessions`.
    static func stats(_ request: Request, _ context: Context) throws -> Response {
        let keys = try context.redis.scanAll(["SCAN"], match: sessionPattern(context)).filter { isSessionKey($0, context) }
        var perUser: [String: Int] = [:]
        var unattributed = 0
        for reply in try chunkedPipeline(keys, context: context, { [["HGET", SessionIndex.key($0), "email"]] }) {
            if let email = reply[0].string { perUser[email, default: 0] += 1 } else { unattributed += 1 }
        }
        let body: JSON = [
            "total_sessions": JSON(keys.count), "unique_users": JSON(perUser.count),
            "user_sessions": .object(perUser.sorted { $0.key < $1.key }.map { ($0.key, JSON($0.value)) }),
            "unattributed_sessions": JSON(unattributed),
        ]
        return .json(200, body.text)
    }

    // MARK: - Changing

    /// KEYS: active_user:{e}, active_user_metadata:{e}, active_user_deleted:{e},
    ///       gw:user_sessions:{e}, gw:oauth_seen:{e}
    /// ARGV: now, ban TTL, session key prefix (`<cookie name>-`), index prefix
    /// Returns the number of OAuth2 Proxy sessions deleted.
    static let revokeScript = RedisScript(
        """
        local prefix = ARGV[3]
        local seen, deleted = {}, 0
        for _, set in ipairs({KEYS[1], KEYS[4]}) do
          for _, id in ipairs(redis.call('SMEMBERS', set)) do
            if not seen[id] and #id == #prefix + 32 and string.sub(id, 1, #prefix) == prefix
               and not string.find(id, '[^0-9a-f]', #prefix + 1) then
              seen[id] = true
              deleted = deleted + redis.call('DEL', id)
              redis.call('DEL', ARGV[4] .. id)
            end
          end
        end
        redis.call('DEL', KEYS[1], KEYS[2], KEYS[4], KEYS[5])
        redis.call('SET', KEYS[3], ARGV[1], 'EX', ARGV[2])
        return deleted
        """)

    /// `POST /api/admin/sessions/revoke-user {user_email}`: in one atomic step, deletes every
    /// OAuth2 Proxy session recorded for the user, their active-user keys, and bans them for
    /// BAN_TTL. Their cookies stop working at `/oauth2/auth`, a fresh sign-in is refused by the
    /// access check, and their JWTs are refused until the ban ends or is lifted.
    static func revokeUser(_ request: Request, _ context: Context) throws -> Response {
        let admin = try context.requireIdentity()
        let email = try userEmail(try request.jsonObject())
        guard email != admin else { throw APIError.badRequest("You cannot revoke your own sessions", code: "cannot_revoke_self") }
        guard !Admins.isSuperAdmin(email, context: context) else {
            Audit.record("session.revoke_user", target: email, result: "refused_super_admin", context: context)
            throw superAdminProtected(email)
        }
        let ttl = context.config.banTTL
        let reply = try context.revoking { () throws(RedisError) in
            try context.redis.eval(
                revokeScript,
                keys: [
                    "active_user:\(email)", "active_user_metadata:\(email)", "active_user_deleted:\(email)",
                    SessionIndex.userKey(email), SessionIndex.oauthSeenKey(email),
                ],
                arguments: [String(context.now), String(ttl), context.config.cookieName + "-", SessionIndex.keyPrefix],
                confirmed: true)
        }
        if case .error(let message) = reply { throw RedisError.server(message) }
        let deleted = reply.integer ?? 0
        Audit.record(
            "session.revoke_user", target: email, details: ["deleted_sessions": .int(deleted), "ban_ttl": .int(ttl)], context: context)
        let body: JSON = [
            "message": "User sessions deleted successfully (banned)", "user_email": .string(email), "deleted_count": .int(deleted),
            "deleted_by": .string(admin), "deletion_flag_created": true, "deletion_flag_ttl": .int(ttl),
        ]
        return .json(200, body.text)
    }

    /// `DELETE /api/admin/sessions/unban/{email}` (nginx has percent-decoded the path; `+` stays `+`).
    static func unban(_ request: Request, _ context: Context) throws -> Response {
        let admin = try context.requireIdentity()
        let email = Email.normalize(String(request.path.dropFirst(unbanPrefix.count)))
        guard Email.isValid(email) else { throw APIError.badRequest("A valid e-mail is required", code: "invalid_email") }
        let reply = try context.redis.confirmedPipeline([["DEL", "active_user_deleted:\(email)"]])[0]
        if case .error(let message) = reply { throw RedisError.server(message) }
        guard reply.integer == 1 else {
            Audit.record("session.unban", target: email, result: "not_banned", context: context)
            throw APIError(404, "not_banned", "User is not currently banned", [("user_email", .string(email))])
        }
        Audit.record("session.unban", target: email, context: context)
        let body: JSON = ["message": "Ban removed successfully", "user_email": .string(email), "unbanned_by": .string(admin)]
        return .json(200, body.text)
    }

    /// KEYS: the session key, its index entry. ARGV: the per-user index prefix, the e-mail whose
    /// sessions must not be deleted ("" for none). Returns 1 when the session existed, -1
    /// (nothing deleted) when it belongs to the protected e-mail.
    static let deleteScript = RedisScript(
        """
        local email = redis.call('HGET', KEYS[2], 'email')
        if email and ARGV[2] ~= '' and email == ARGV[2] then return -1 end
        local deleted = redis.call('DEL', KEYS[1])
        redis.call('DEL', KEYS[2])
        if email then redis.call('SREM', ARGV[1] .. email, KEYS[1]) end
        return deleted
        """)

    /// `DELETE /api/admin/sessions/{session_key}`: only OAuth2 Proxy session keys can be named.
    static func deleteSession(_ request: Request, _ context: Context) throws -> Response {
        let admin = try context.requireIdentity()
        let key = String(request.path.dropFirst(sessionsPrefix.count))
        guard isSessionKey(key, context) else {
            throw APIError.badRequest(
                "Not an OAuth2 Proxy session key (\(context.config.cookieName)-<32 hex>)", code: "invalid_session_key")
        }
        // Another admin cannot end the super admin's session (the super admin may end their own).
        let protected = context.config.superAdmin.flatMap { $0 == admin ? nil : $0 } ?? ""
        let reply = try context.redis.eval(
            deleteScript, keys: [key, SessionIndex.key(key)], arguments: [SessionIndex.userKeyPrefix, protected],
            confirmed: true)
        if case .error(let message) = reply { throw RedisError.server(message) }
        if reply.integer == -1 {
            Audit.record("session.delete", target: key, result: "refused_super_admin", context: context)
            throw superAdminProtected(protected)
        }
        guard reply.integer == 1 else { throw APIError.notFound("Session not found") }
        Audit.record("session.delete", target: key, context: context)
        let body: JSON = ["message": "Session deleted successfully", "session_key": .string(key), "deleted_by": .string(admin)]
        return .json(200, body.text)
    }

    /// KEYS: pairs of active_user_metadata:{e}, active_user:{e}. Deletes metadata whose
    /// active-user key is gone; returns the metadata keys deleted.
    static let orphanScript = RedisScript(
        """
        local cleaned = {}
        for i = 1, #KEYS, 2 do
          if redis.call('EXISTS', KEYS[i + 1]) == 0 and redis.call('DEL', KEYS[i]) == 1 then cleaned[#cleaned + 1] = KEYS[i] end
        end
        return cleaned
        """)

    /// KEYS: gw:user_sessions:{e} sets. Removes members whose session is gone; returns how many.
    static let pruneScript = RedisScript(
        """
        local pruned = 0
        for _, set in ipairs(KEYS) do
          for _, id in ipairs(redis.call('SMEMBERS', set)) do
            if redis.call('EXISTS', id) == 0 then pruned = pruned + redis.call('SREM', set, id) end
          end
        end
        return pruned
        """)

    /// `POST /api/admin/sessions/cleanup-expired`: removes metadata whose `active_user` key is
    /// gone, and index entries of sessions OAuth2 Proxy no longer has.
    static func cleanupExpired(_ request: Request, _ context: Context) throws -> Response {
        let admin = try context.requireIdentity()
        let metadataKeys = try context.redis.scanAll(["SCAN"], match: "active_user_metadata:*")
        var cleaned: [String] = []
        for chunk in metadataKeys.chunked(500) {
            let keys = chunk.flatMap { [$0, "active_user:" + $0.dropFirst("active_user_metadata:".count)] }
            let reply = try context.redis.eval(orphanScript, keys: keys, arguments: [])
            if case .error(let message) = reply { throw RedisError.server(message) }
            cleaned += reply.strings.map { String($0.dropFirst("active_user_metadata:".count)) }
        }
        var pruned: Int64 = 0
        for chunk in try context.redis.scanAll(["SCAN"], match: SessionIndex.userKeyPrefix + "*").chunked(100) {
            let reply = try context.redis.eval(pruneScript, keys: Array(chunk), arguments: [])
            if case .error(let message) = reply { throw RedisError.server(message) }
            pruned += reply.integer ?? 0
        }
        Audit.record(
            "session.cleanup_expired", target: "active_user_metadata",
            details: ["cleaned_count": JSON(cleaned.count), "pruned_index_entries": .int(pruned)], context: context)
        let body: JSON = [
            "message": "Cleanup completed", "cleaned_count": JSON(cleaned.count), "cleaned_users": JSON(cleaned),
            "pruned_index_entries": .int(pruned), "cleaned_by": .string(admin),
        ]
        return .json(200, body.text)
    }

    // MARK: - Helpers

    static let sessionsPrefix = "/api/admin/sessions/"
    static let unbanPrefix = "/api/admin/sessions/unban/"

    /// Banning or force-logging-out the super admin: refused for everyone (docs/security.md P4).
    static func superAdminProtected(_ email: String) -> APIError {
        APIError(
            403, "super_admin_protected", "The super admin cannot be banned or logged out by an admin",
            [("user_email", .string(email))])
    }

    static func sessionPattern(_ context: Context) -> String { context.config.cookieName + "-*" }

    static func isSessionKey(_ key: String, _ context: Context) -> Bool {
        OAuth2Cookie.isSessionKey(key, cookieName: context.config.cookieName)
    }

    static func userEmail(_ body: JSON) throws(APIError) -> String {
        guard let raw = body["user_email"]?.stringValue else {
            throw .badRequest("user_email is required", code: "invalid_email")
        }
        let email = Email.normalize(raw)
        guard Email.isValid(email) else { throw .badRequest("user_email must be a valid e-mail address", code: "invalid_email") }
        return email
    }

    /// A whole number from metadata the Lua or Swift tracker wrote (cjson may write floats).
    static func number(_ value: JSON?) -> Int64? {
        switch value {
        case .int(let whole): whole
        case .double(let number) where number.isFinite && abs(number) < 1e15: Int64(number)
        default: nil
        }
    }

    /// Runs `commands(item)` for every item in pipelines of bounded size; one reply group per item.
    static func chunkedPipeline(
        _ items: [String], context: Context, _ commands: (String) -> [[String]]
    ) throws(RedisError) -> [[RedisReply]] {
        var groups: [[RedisReply]] = []
        for chunk in items.chunked(500) {
            let perItem = chunk.map(commands)
            var replies = try context.redis.pipeline(perItem.flatMap { $0 })[...]
            for commands in perItem {
                groups.append(Array(replies.prefix(commands.count)))
                replies = replies.dropFirst(commands.count)
            }
        }
        return groups
    }
}

extension Array {
    fileprivate func chunked(_ size: Int) -> [ArraySlice<Element>] {
        stride(from: 0, to: count, by: size).map { self[$0..<Swift.min($0 + size, count)] }
    }
}

extension Character {
    fileprivate var isASCIIDigit: Bool { ("0"..."9").contains(self) }
}
