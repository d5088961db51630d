import FCGIRuntime
import GatewayCore

/// The token records of SPEC section 2 (`token:info:{id}`, `user:tokens:{email}`,
/// `revoked:token:{id}`), read and revoked the same way by the self-service handlers
/// (`TokenInfo`, `TokenList`, `TokenRevoke`) and the admins' (`TokenAdmin`). Records written
/// by the Lua gateway (no `last_used`, numbers possibly as floats) read the same as ours.
enum TokenStore {
    static func infoKey(_ id: String) -> String { "token:info:\(id)" }
    static func setKey(_ email: String) -> String { "user:tokens:\(email)" }
    static func revokedKey(_ id: String) -> String { "revoked:token:\(id)" }

    static let maxIDBytes = 128

    /// One stored `token:info` record.
    struct Record {
        let id: String
        /// The stored JSON object, fields as written (by us or by the Lua gateway).
        let info: JSON
        /// `user_email` as stored (the Lua gateway kept OAuth2 Proxy's spelling).
        let storedEmail: String
        let expiresAt: Int64?
        let createdAt: Int64

        /// Lowercased: the form compared with the caller's identity.
        var email: String { Email.normalize(storedEmail) }

        init?(id: String, text: String) {
            guard let info = try? JSON.parse(text), case .object = info else { return nil }
            self.id = id
            self.info = info
            storedEmail = info["user_email"]?.stringValue ?? ""
            expiresAt = JWTCodec.seconds(info["expires_at"])
            createdAt = JWTCodec.seconds(info["created_at"]) ?? 0
        }

        func isExpired(now: Int64) -> Bool { expiresAt.map { $0 <= now } ?? false }

        func field(_ name: String) -> JSON { info[name] ?? .null }
    }

    // MARK: Input

    /// A token id sent by a client: a non-empty string of at most 128 bytes without spaces or
    /// control characters (ids are UUIDs; anything else cannot name a stored token).
    static func tokenID(_ value: JSON?) throws(APIError) -> String {
        guard let value, !value.isNull else { throw .badRequest("token_id is required", code: "token_id_missing") }
        guard let text = value.stringValue else { throw .badRequest("token_id must be a string", code: "invalid_token_id") }
        return try tokenID(text)
    }

    static func tokenID(_ text: String) throws(APIError) -> String {
        guard !text.isEmpty else { throw .badRequest("token_id is required", code: "token_id_missing") }
        guard text.utf8.count <= maxIDBytes, text.unicodeScalars.allSatisfy({ $0.value > 0x20 && $0.value != 0x7F }) else {
            throw .badRequest("token_id is not a valid token id", code: "invalid_token_id")
        }
        return text
    }

    /// An e-mail sent by a client, normalised; 400 unless it looks like an address.
    static func email(_ text: String?, field: String) throws(APIError) -> String {
        guard let text, !text.trimmingSpaces().isEmpty else { throw .badRequest("\(field) is required", code: "\(field)_missing") }
        let email = Email.normalize(text)
        guard Email.isValid(email) else { throw .badRequest("\(field) is not a valid e-mail address", code: "invalid_\(field)") }
        return email
    }

    // MARK: Reads

    /// The records of these ids in one MGET, in order; nil where the record is gone (expired,
    /// revoked) or unreadable.
    static func load(_ ids: [String], context: Context) throws(RedisError) -> [Record?] {
        guard !ids.isEmpty else { return [] }
        let reply = try context.redis.command(["MGET"] + ids.map(infoKey))
        if case .error(let message) = reply { throw .server(message) }
        let values = reply.array
        guard values.count == ids.count else { throw .protocolError("unexpected MGET reply") }
        return zip(ids, values).map { id, value in value.string.flatMap { Record(id: id, text: $0) } }
    }

    static func find(_ id: String, context: Context) throws(RedisError) -> Record? {
        try load([id], context: context)[0]
    }

    /// The record of a token the caller names: 404 unknown, 403 someone else's.
    static func owned(_ id: String, by email: String, context: Context) throws -> Record {
        guard let record = try find(id, context: context) else { throw notFound(id) }
        guard record.email == email else {
            context.logger.notice("token of another user refused", metadata: ["token.id": "\(id)"])
            throw APIError(403, "forbidden", "Access denied: this token belongs to another user", [("token_id", .string(id))])
        }
        return record
    }

    static func notFound(_ id: String) -> APIError {
        APIError(404, "not_found", "Token not found", [("token_id", .string(id))])
    }

    /// Which of these ids have a `revoked:token` record, in one round trip.
    static func revokedFlags(_ ids: [String], context: Context) throws(RedisError) -> [Bool] {
        guard !ids.isEmpty else { return [] }
        return try context.redis.pipeline(ids.map { ["EXISTS", revokedKey($0)] }).map { reply throws(RedisError) in
            if case .error(let message) = reply { throw .server(message) }
            return reply.integer == 1
        }
    }

    // MARK: Revocation

    /// Revokes the tokens in one MULTI/EXEC: for each, `revoked:token:{id}` = "1" for its
    /// remaining lifetime plus the JWT clock leeway (so the token is refused for as long as its
    /// signature could still pass), its `token:info` deleted, its id removed from the owner's
    /// set. A crash leaves either all of it or none of it.
    static func revoke(_ records: [Record], context: Context) throws(RedisError) {
        guard !records.isEmpty else { return }
        let leeway = context.config.jwt.leeway
        var commands: [[String]] = []
        for record in records {
            let remaining = (record.expiresAt ?? context.now + context.config.tokenMaxTTL) - context.now
            commands.append(["SET", revokedKey(record.id), "1", "EX", String(max(remaining, 0) + leeway)])
            commands.append(["DEL", infoKey(record.id)])
            commands.append(["SREM", setKey(record.email), record.id])
            // A Lua-era record may name its owner with capitals: that set holds the id too.
            if record.storedEmail != record.email, !record.storedEmail.isEmpty {
                commands.append(["SREM", setKey(record.storedEmail), record.id])
            }
        }
        let replies = try context.revoking { () throws(RedisError) in try context.redis.transaction(commands, confirmed: true) }
        for reply in replies {
            if case .error(let message) = reply { throw .server(message) }
        }
    }

    // MARK: Views

    /// A token as the lists show it (never the JWT itself, which is not stored).
    /// `owner`: include `user_email` (admin lists); `revoked`: include the status fields.
    static func view(_ record: Record, now: Int64, owner: Bool, revoked: Bool?) -> JSON {
        var fields: [(String, JSON)] = [("token_id", .string(record.id)), ("token_name", record.field("token_name"))]
        if owner { fields.append(("user_email", .string(record.storedEmail))) }
        if revoked == nil { fields.append(("scopes", record.field("scopes"))) }
        fields += [
            ("created_at", record.field("created_at")), ("expires_at", record.field("expires_at")),
            ("last_used", record.field("last_used")), ("is_expired", .bool(record.isExpired(now: now))),
        ]
        if let revoked {
            let expired = record.isExpired(now: now)
            fields += [("is_revoked", .bool(revoked)), ("status", .string(revoked ? "revoked" : expired ? "expired" : "active"))]
        }
        return .object(fields)
    }

    /// Newest first; ties by id, so the order is stable.
    static func newestFirst(_ lhs: Record, _ rhs: Record) -> Bool {
        lhs.createdAt != rhs.createdAt ? lhs.createdAt > rhs.createdAt : lhs.id < rhs.id
    }
}
