import FCGIRuntime
import GatewayCore

/// Replaces `session_admin.lua`: `/api/admin/sessions…`, admins only (the route's access rule).
/// Lists OAuth2 Proxy sessions with their owners (from the session index the tracker keeps,
/// `Keyspace.sessionOwner`), active users with their ban state, and ends a person's sessions for
/// real: revoke-user deletes every OAuth2 Proxy session the tracker recorded for them and bans
/// them (`Revocations.banAndEndSessions`). Every change is recorded in the audit log.
enum SessionAdmin {
    // MARK: - Reading

    /// `GET /api/admin/sessions[?limit=&cursor=]`: OAuth2 Proxy sessions, newest first (first
    /// seen), each with its owner, from the session index (`AdminIndex.sessions`); `limit`
    /// sessions exactly, `next_cursor` pages on. Without `limit` and `cursor`: all of them.
    static func list(_ request: Request, _ context: Context) throws -> Response {
        let (sessions, next) = try IndexPage.listing(
            AdminIndex.sessions, request: request, redis: context.redis,
            resolve: { entries -> [JSON?] in
                guard !entries.isEmpty else { return [] }
                let replies = try context.redis.pipeline(
                    entries.map { ["TTL", $0.member] } + [["HMGET", AdminIndex.sessionOwner] + entries.map(\.member)])
                let owners = replies[replies.count - 1].array
                return entries.enumerated().map { index, entry in
                    let ttl = replies[index].integer ?? -2
                    guard ttl != -2 else { return nil }  // OAuth2 Proxy no longer has it
                    return [
                        "session_key": .string(entry.member), "email": JSON(index < owners.count ? owners[index].string : nil),
                        "created_at": .int(entry.score), "expires_at": ttl >= 0 ? .int(context.now + ttl) : .null,
                        "ttl_seconds": .int(ttl),
                    ]
                }
            },
            stale: { entries in try SessionIndex.forget(entries.map(\.member), context: context) })
        let body: JSON = ["sessions": .array(sessions), "total": JSON(sessions.count), "next_cursor": JSON(next?.text)]
        return .json(200, try IndexBuild.withProgress(body, context.redis).text)
    }

    /// `GET /api/admin/sessions/active-users[?limit=&cursor=]`: OAuth2 and JWT users together,
    /// banned users without sessions too, newest `last_access` first, from the active-user
    /// index (`AdminIndex.activeUsers`); `total` and `banned_count` count all of them.
    /// A user whose `last_access` moves on while an admin pages moves to the top of the list.
    static func activeUsers(_ request: Request, _ context: Context) throws -> Response {
        let (users, next) = try IndexPage.listing(
            AdminIndex.activeUsers, request: request, redis: context.redis,
            resolve: { entries in try activeUserEntries(entries, context: context) },
            stale: { entries in
                let emails = entries.map(\.member)
                _ = try context.redis.pipeline([["ZREM", AdminIndex.activeUsers] + emails, ["ZREM", AdminIndex.activeUntil] + emails])
            })
        let now = String(context.now)
        let counts = try context.redis.pipeline([
            ["ZCARD", AdminIndex.activeUsers], ["ZRANGE", AdminIndex.bans, "(" + now, "+inf", "BYSCORE"],
        ])
        // Bans are few: each is checked (a ban lifted with redis-cli or by the Lua gateway stays in
        // the index until the cleanup), one multi-key EXISTS per 100.
        let banned = counts[1].strings.map(Keyspace.ban)
        let groups = stride(from: 0, to: banned.count, by: 100).map { ["EXISTS"] + banned[$0..<min($0 + 100, banned.count)] }
        let bannedCount = groups.isEmpty ? 0 : try context.redis.pipeline(groups).reduce(Int64(0)) { $0 + ($1.integer ?? 0) }
        // The index the list walks counts its entries; a complete listing has dropped the stale
        // ones (keys deleted outside the gateway) on the way, so its length is exact.
        let whole = try Paging.limit(request) == nil && IndexCursor.parse(request) == nil
        let total = whole ? Int64(users.count) : counts[0].integer ?? 0
        let body: JSON = [
            "active_users": .array(users), "total": .int(total), "banned_count": .int(bannedCount),
            "current_time": .int(context.now), "next_cursor": JSON(next?.text),
        ]
        return .json(200, try IndexBuild.withProgress(body, context.redis).text)
    }

    /// What the active-user list shows for these users (nil: neither active nor banned any more),
    /// by the definitions in docs/admin.md. `session_count`: the person's OAuth2 Proxy sessions
    /// whose key still exists, as the sessions tab counts them (not the tokens they used).
    /// `last_access` as the tracker recorded it; the index's (the list's order) where the
    /// metadata has none (written by hand, by an older tracker, or gone with a ban, which keeps
    /// the index's time); null for a person banned by e-mail and never seen.
    static func activeUserEntries(_ entries: [IndexPage.Entry], context: Context) throws -> [JSON?] {
        let emails = entries.map(\.member)
        let commands = emails.flatMap { email in
            [
                ["GET", Keyspace.activeUserMetadata(email)], ["SMEMBERS", Keyspace.userSessions(email)],
                ["TTL", Keyspace.activeUser(email)], ["TTL", Keyspace.ban(email)], ["GET", Keyspace.ban(email)],
            ]
        }
        let replies = commands.isEmpty ? [] : try context.redis.pipeline(commands)
        let live = try liveSessionCounts(emails.indices.map { replies[$0 * 5 + 1].strings }, context: context)
        return emails.enumerated().map { index, email in
            let reply = replies[(index * 5)..<(index * 5 + 5)].map { $0 }
            let metadata = reply[0].string.flatMap { try? JSON.parse($0) } ?? .object([])
            let sessionTTL = reply[2].integer ?? -2
            let banTTL = reply[3].integer ?? -2
            let isBanned = banTTL != -2
            guard sessionTTL != -2 || isBanned else { return nil }
            let bannedAt = reply[4].integer
            // A ban adds a person never seen to the index at the ban's time: no access to show.
            let neverSeen = isBanned && bannedAt == entries[index].score && metadata["last_access"] == nil
            let indexed: Int64? = neverSeen ? nil : entries[index].score
            let lastAccess: JSON = (number(metadata["last_access"]) ?? indexed).map { .int($0) } ?? .null
            return [
                "email": .string(email), "session_count": .int(live[index]),
                "created_at": .int(number(metadata["created_at"]) ?? (sessionTTL == -2 ? bannedAt : nil) ?? 0),
                "last_access": lastAccess, "expires_at": .int(number(metadata["expires_at"]) ?? 0),
                "ttl_seconds": .int(max(sessionTTL, 0)), "is_banned": .bool(isBanned),
                "ban_remaining_seconds": .int(isBanned ? banTTL : 0), "auth_method": metadata["auth_method"] ?? .null,
            ]
        }
    }

    /// For each person's recorded sessions, how many still exist (one multi-key EXISTS each, in
    /// one round trip; none without sessions).
    private static func liveSessionCounts(_ sessions: [[String]], context: Context) throws -> [Int64] {
        let asked = sessions.enumerated().filter { !$0.element.isEmpty }
        guard !asked.isEmpty else { return sessions.map { _ in 0 } }
        let replies = try context.redis.pipeline(asked.map { ["EXISTS"] + $0.element })
        var counts = sessions.map { _ in Int64(0) }
        for (position, entry) in asked.enumerated() { counts[entry.offset] = replies[position].integer ?? 0 }
        return counts
    }

    /// `GET /api/admin/sessions/stats`: session counts per owner, from the session indexes
    /// (sessions whose key still exists); sessions whose owner the tracker has not seen (found
    /// by an index pass) are counted in `unattributed_sessions`.
    static func stats(_ request: Request, _ context: Context) throws -> Response {
        let reply = try context.redis.command("ZRANGE", AdminIndex.sessionExpiry, "(" + String(context.now), "+inf", "BYSCORE")
        let live = reply.strings
        // Per group of 100 sessions: one multi-key EXISTS (a session ended by a sign-out stays in
        // the index until a page or the cleanup drops it: OAuth2 Proxy deletes its key, the
        // gateway does not see it) and one HMGET of their owners; a group that lost sessions is
        // checked key by key.
        let group = 100
        let starts = Array(stride(from: 0, to: live.count, by: group))
        let replies = try context.redis.pipeline(
            starts.flatMap { start -> [[String]] in
                let keys = live[start..<min(start + group, live.count)]
                return [["EXISTS"] + keys, ["HMGET", AdminIndex.sessionOwner] + keys]
            })
        var perUser: [String: Int] = [:]
        var unattributed = 0
        var total = 0
        var unsure: [(key: String, owner: String?)] = []
        for (index, start) in starts.enumerated() {
            let count = replies[index * 2]
            if case .error(let message) = count { throw RedisError.server(message) }
            let owners = replies[index * 2 + 1].array
            let size = min(start + group, live.count) - start
            for offset in 0..<size {
                let owner = offset < owners.count ? owners[offset].string : nil
                if count.integer == Int64(size) {
                    total += 1
                    if let owner { perUser[owner, default: 0] += 1 } else { unattributed += 1 }
                } else {
                    unsure.append((live[start + offset], owner))
                }
            }
        }
        if !unsure.isEmpty {
            for (session, exists) in zip(unsure, try context.redis.pipeline(unsure.map { ["EXISTS", $0.key] })) where exists.integer == 1 {
                total += 1
                if let owner = session.owner { perUser[owner, default: 0] += 1 } else { unattributed += 1 }
            }
        }
        let body: JSON = [
            "total_sessions": JSON(total), "unique_users": JSON(perUser.count),
            "user_sessions": .object(perUser.sorted { $0.key < $1.key }.map { ($0.key, JSON($0.value)) }),
            "unattributed_sessions": JSON(unattributed),
        ]
        return .json(200, try IndexBuild.withProgress(body, context.redis).text)
    }

    // MARK: - Changing

    /// `POST /api/admin/sessions/revoke-user {user_email}`: in one atomic step, deletes every
    /// OAuth2 Proxy session recorded for the user, their active-user keys, and bans them for
    /// BAN_TTL. Their cookies stop working at `/oauth2/auth`, a fresh sign-in is refused by the
    /// access check, and their JWTs are refused until the ban ends or is lifted.
    static func revokeUser(_ request: Request, _ context: Context) throws -> Response {
        let admin = try context.requireIdentity()
        let email = try userEmail(try request.jsonObject())
        guard email != admin else { throw APIError.badRequest("You cannot revoke your own sessions", code: .cannotRevokeSelf) }
        guard !Admins.isSuperAdmin(email, context: context) else {
            Audit.record(.sessionRevokeUser, target: email, result: "refused_super_admin", context: context)
            throw superAdminProtected(email)
        }
        let ttl = context.config.banTTL
        let deleted = try context.revocations.banAndEndSessions(
            email: email, now: context.now, seconds: ttl, sessionKeyPrefix: context.config.cookieName + "-")
        Audit.record(
            .sessionRevokeUser, target: email, details: ["deleted_sessions": .int(deleted), "ban_ttl": .int(ttl)], context: context)
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
        guard Email.isValid(email) else { throw APIError.badRequest("A valid e-mail is required", code: .invalidEmail) }
        // With the Lua gateway's spellings of the e-mail (`active_user_deleted:Alice@Example.com`).
        let spellings = try LegacyEmailKeys.otherSpellings(prefix: Keyspace.banPrefix, email: email, complete: true, context: context).map {
            String($0.dropFirst(Keyspace.banPrefix.count))
        }
        guard try context.revocations.unban([email] + spellings, now: context.now) else {
            Audit.record(.sessionUnban, target: email, result: "not_banned", context: context)
            throw APIError(404, .notBanned, "User is not currently banned", [("user_email", .string(email))])
        }
        Audit.record(.sessionUnban, target: email, context: context)
        let body: JSON = ["message": "Ban removed successfully", "user_email": .string(email), "unbanned_by": .string(admin)]
        return .json(200, body.text)
    }

    /// Deletes one session, its owner record, its admin index entries and its id in its owner's
    /// `userSessions` set: 1 when the session existed, 0 when not, -1 (nothing deleted) when it
    /// belongs to the protected e-mail ("" for none), -2 (nothing deleted) when the owner is no
    /// longer `ARG.email`, whose set `KEY.user_sessions` is (read again, `endSession`).
    static let deleteScript = RedisScript(
        keys: ["session", "owner", "idx_sessions", "idx_session_expiry", "idx_session_owner", "user_sessions"],
        arguments: ["email", "protected_email"],
        """
        local email = redis.call('HGET', KEY.owner, 'email') or redis.call('HGET', KEY.idx_session_owner, KEY.session)
        if (email or '') ~= ARG.email then return -2 end
        if email and ARG.protected_email ~= '' and email == ARG.protected_email then return -1 end
        local deleted = redis.call('DEL', KEY.session)
        redis.call('DEL', KEY.owner)
        redis.call('ZREM', KEY.idx_sessions, KEY.session)
        redis.call('ZREM', KEY.idx_session_expiry, KEY.session)
        redis.call('HDEL', KEY.idx_session_owner, KEY.session)
        if email then redis.call('SREM', KEY.user_sessions, KEY.session) end
        return deleted
        """)

    /// Ends one OAuth2 Proxy session with `deleteScript` (`MyAccess` ends sessions with it too):
    /// reads its owner first, so that the script names the owner's set among its keys, and
    /// reads again if the owner changed in between. A write the person is told about: a replica
    /// has it before the answer (REDIS_WAIT_REPLICAS). Returns the script's answer.
    static func endSession(_ key: String, protectedEmail: String, context: Context) throws(RedisError) -> Int64 {
        let owner = Keyspace.sessionOwner(key)
        for _ in 0..<3 {
            let found = try context.redis.pipeline([["HGET", owner, "email"], ["HGET", AdminIndex.sessionOwner, key]])
            let email = found[0].string ?? found[1].string ?? ""
            let reply = try context.redis.eval(
                deleteScript,
                keys: [
                    "session": key, "owner": owner, "idx_sessions": AdminIndex.sessions,
                    "idx_session_expiry": AdminIndex.sessionExpiry, "idx_session_owner": AdminIndex.sessionOwner,
                    "user_sessions": Keyspace.userSessions(email),
                ],
                arguments: ["email": email, "protected_email": protectedEmail], confirmed: true)
            if let ended = reply.integer, ended != -2 { return ended }
        }
        throw .protocolError("session \(key): its owner kept changing while it was ended")
    }

    /// `DELETE /api/admin/sessions/{session_key}`: only OAuth2 Proxy session keys can be named.
    static func deleteSession(_ request: Request, _ context: Context) throws -> Response {
        let admin = try context.requireIdentity()
        let key = String(request.path.dropFirst(sessionsPrefix.count))
        guard isSessionKey(key, context) else {
            throw APIError.badRequest(
                "Not an OAuth2 Proxy session key (\(context.config.cookieName)-<32 hex>)", code: .invalidSessionKey)
        }
        // Another admin cannot end the super admin's session (the super admin may end their own).
        let protected = context.config.superAdmin.flatMap { $0 == admin ? nil : $0 } ?? ""
        let ended = try endSession(key, protectedEmail: protected, context: context)
        if ended == -1 {
            Audit.record(.sessionDelete, target: key, result: "refused_super_admin", context: context)
            throw superAdminProtected(protected)
        }
        guard ended == 1 else { throw APIError.notFound("Session not found") }
        Audit.record(.sessionDelete, target: key, context: context)
        let body: JSON = ["message": "Session deleted successfully", "session_key": .string(key), "deleted_by": .string(admin)]
        return .json(200, body.text)
    }

    /// `POST /api/admin/sessions/cleanup-expired`: walks the user and session indexes (bounded
    /// by the number of users and sessions, not by the keyspace) in small batches: removes the
    /// metadata of users whose `active_user` key is gone, and sessions OAuth2 Proxy no longer
    /// has from the indexes and their owners' sets (what is due in the indexes, as the Redis
    /// cleanup's phases `users` and `sessions`).
    static func cleanupExpired(_ request: Request, _ context: Context) throws -> Response {
        let admin = try context.requireIdentity()
        let runner = CleanupRunner(
            id: "", executedBy: admin, manual: true, dryRun: false, context: context)
        try runner.pruneUsers()
        try runner.pruneSessions()
        let cleaned = runner.items.compactMap { item in
            item["type"]?.stringValue == "orphaned_metadata" ? item["user_email"]?.stringValue : nil
        }
        let pruned = Int64(runner.counts["stale_sessions"] ?? 0)
        Audit.record(
            .sessionCleanupExpired, target: "active_user_metadata",
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
            403, .superAdminProtected, "The super admin cannot be banned or logged out by an admin",
            [("user_email", .string(email))])
    }

    static func sessionPattern(_ context: Context) -> String { Keyspace.oauth2SessionPattern(cookieName: context.config.cookieName) }

    /// The e-mails of the keys under a per-user prefix (`active_user:`, the ban, ...).
    static func emails(under prefix: String, _ context: Context) throws(RedisError) -> [String] {
        try context.redis.scanAll(["SCAN"], match: Keyspace.pattern(prefix: prefix)).map { String($0.dropFirst(prefix.count)) }
    }

    static func isSessionKey(_ key: String, _ context: Context) -> Bool {
        OAuth2Cookie.isSessionKey(key, cookieName: context.config.cookieName)
    }

    static func userEmail(_ body: JSON) throws(APIError) -> String {
        guard let raw = body["user_email"]?.stringValue else {
            throw .badRequest("user_email is required", code: .invalidEmail)
        }
        let email = Email.normalize(raw)
        guard Email.isValid(email) else { throw .badRequest("user_email must be a valid e-mail address", code: .invalidEmail) }
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
}
