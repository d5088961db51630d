import FCGIRuntime
import GatewayCore

/// "My access" (`/my-access`): the signed-in person's own sign-in sessions. They see each
/// session OAuth2 Proxy still holds for them, with the browser, address, and when it was first
/// and last seen (recorded by the tracker, `Tracking.script`, at most every
/// TRACK_INTERVAL_SECONDS per session), and end any session but the one they are using (that
/// one ends with sign-out). Their API tokens are `/api/token/list` and `/api/token/revoke`.
/// Every ending is written to the audit log with the person as actor, so admins see it.
///
/// A session is named by the 32 hex digits of its OAuth2 Proxy key (`<cookie name>-<hex>`);
/// only sessions the tracker recorded for the caller can be named.
enum MyAccess {
    static let sessionsPath = "/api/me/sessions"
    static let sessionPrefix = "/api/me/sessions/"
    static let endOthersPath = "/api/me/sessions/end-others"

    struct Session {
        let key: String
        let ttl: Int64
        let firstSeen: Int64?
        let lastSeen: Int64?
        let address: String?
        let userAgent: String?

        var id: String { String(key.split(separator: "-").last ?? "") }
    }

    /// `GET /api/me/sessions`: the caller's live sessions, the current one first, then the most
    /// recently seen.
    static func list(_ request: Request, _ context: Context) throws -> Response {
        let email = try context.requireIdentity()
        let current = currentSession(request, context)
        let sessions = try sessions(of: email, context: context).sorted {
            if ($0.key == current) != ($1.key == current) { return $0.key == current }
            return ($0.lastSeen ?? 0) != ($1.lastSeen ?? 0) ? ($0.lastSeen ?? 0) > ($1.lastSeen ?? 0) : $0.key < $1.key
        }
        let items: [JSON] = sessions.map { session in
            [
                "session_id": .string(session.id), "current": .bool(session.key == current),
                "first_seen": JSON(session.firstSeen), "last_seen": JSON(session.lastSeen),
                "address": JSON(session.address), "user_agent": JSON(session.userAgent),
                "expires_at": session.ttl >= 0 ? .int(context.now + session.ttl) : .null,
            ]
        }
        let body: JSON = [
            "sessions": .array(items), "count": JSON(items.count), "user_email": .string(email),
            "current_session_known": .bool(current.map { key in sessions.contains { $0.key == key } } ?? false),
        ]
        return .json(200, body.text)
    }

    /// `DELETE /api/me/sessions/{session_id}`: ends one of the caller's other sessions.
    static func end(_ request: Request, _ context: Context) throws -> Response {
        let email = try context.requireIdentity()
        let id = String(request.path.dropFirst(sessionPrefix.count))
        let key = Keyspace.oauth2Session(cookieName: context.config.cookieName, hex: id)
        guard OAuth2Cookie.isSessionKey(key, cookieName: context.config.cookieName) else {
            throw APIError.badRequest("session_id must be the 32 lowercase hex digits of a session", code: .invalidSessionID)
        }
        if key == currentSession(request, context) {
            throw APIError.badRequest("This is the session you are using; sign out to end it", code: .currentSession)
        }
        guard let session = try sessions(of: email, context: context).first(where: { $0.key == key }) else {
            throw APIError.notFound("Session not found")
        }
        let ended = try delete([session.key], context: context)
        guard ended == 1 else { throw APIError.notFound("Session not found") }
        Audit.record(.selfSessionEnd, target: session.key, details: describe(session), context: context)
        let body: JSON = ["message": "Session ended", "session_id": .string(id), "ended_count": 1]
        return .json(200, body.text)
    }

    /// `POST /api/me/sessions/end-others`: ends every session of the caller but the current one.
    static func endOthers(_ request: Request, _ context: Context) throws -> Response {
        let email = try context.requireIdentity()
        let current = currentSession(request, context)
        let others = try sessions(of: email, context: context).filter { $0.key != current }
        let ended = try delete(others.map(\.key), context: context)
        Audit.record(.selfSessionEndOthers, target: email, details: ["ended_count": .int(ended)], context: context)
        let body: JSON = ["message": "Other sessions ended", "ended_count": .int(ended)]
        return .json(200, body.text)
    }

    // MARK: - Helpers

    static func currentSession(_ request: Request, _ context: Context) -> String? {
        OAuth2Cookie.sessionID(
            cookieHeader: request.header("Cookie"), name: context.config.cookieName, secret: context.config.cookieSecret)
    }

    /// The sessions the tracker recorded for `email` that OAuth2 Proxy still holds and whose
    /// index entry still names `email`; ids of sessions that are gone are pruned on the way.
    static func sessions(of email: String, context: Context) throws -> [Session] {
        let userKey = Keyspace.userSessions(email)
        let keys = try context.redis.scanAll(["SSCAN", userKey])
        guard !keys.isEmpty else { return [] }
        let replies = try context.redis.pipeline(
            keys.flatMap { key in
                [["TTL", key], ["HMGET", Keyspace.sessionOwner(key), "email", "first_seen", "last_seen", "address", "user_agent"]]
            })
        var live: [Session] = []
        var gone: [String] = []
        for (index, key) in keys.enumerated() {
            let ttl = replies[index * 2].integer ?? -2
            let fields = replies[index * 2 + 1].array
            guard OAuth2Cookie.isSessionKey(key, cookieName: context.config.cookieName), ttl != -2,
                fields.count == 5, fields[0].string == email
            else {
                gone.append(key)
                continue
            }
            live.append(
                Session(
                    key: key, ttl: ttl, firstSeen: fields[1].string.flatMap { Int64($0) },
                    lastSeen: fields[2].string.flatMap { Int64($0) }, address: fields[3].string, userAgent: fields[4].string))
        }
        if !gone.isEmpty {
            _ = try context.redis.command(["SREM", userKey] + gone)
        }
        return live
    }

    /// Deletes OAuth2 Proxy sessions with their index entries (one script call each; a person
    /// has a handful); returns how many existed.
    static func delete(_ keys: [String], context: Context) throws -> Int64 {
        guard !keys.isEmpty else { return 0 }
        var ended: Int64 = 0
        for key in keys {
            ended += max(try SessionAdmin.endSession(key, protectedEmail: "", context: context), 0)
        }
        return ended
    }

    static func describe(_ session: Session) -> JSON {
        ["address": JSON(session.address), "user_agent": JSON(session.userAgent), "first_seen": JSON(session.firstSeen)]
    }
}
