import FCGIRuntime
import GatewayCore

/// The token records (`Keyspace.tokenInfo`, `userTokens`, `revokedToken`), read and revoked the
/// same way by the self-service handlers (`TokenInfo`, `TokenList`, `TokenRevoke`) and the
/// admins' (`TokenAdmin`). Records written by the Lua gateway (no `last_used`, numbers possibly
/// as floats) read the same as ours.
enum TokenStore {
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
        guard let value, !value.isNull else { throw .badRequest("token_id is required", code: .tokenIDMissing) }
        guard let text = value.stringValue else { throw .badRequest("token_id must be a string", code: .invalidTokenID) }
        return try tokenID(text)
    }

    static func tokenID(_ text: String) throws(APIError) -> String {
        guard !text.isEmpty else { throw .badRequest("token_id is required", code: .tokenIDMissing) }
        guard text.utf8.count <= maxIDBytes, text.unicodeScalars.allSatisfy({ $0.value > 0x20 && $0.value != 0x7F }) else {
            throw .badRequest("token_id is not a valid token id", code: .invalidTokenID)
        }
        return text
    }

    /// A `user_email` sent by a client, normalised; 400 unless it looks like an address.
    static func userEmail(_ text: String?) throws(APIError) -> String {
        guard let text, !text.trimmingSpaces().isEmpty else { throw .badRequest("user_email is required", code: .userEmailMissing) }
        let email = Email.normalize(text)
        guard Email.isValid(email) else { throw .badRequest("user_email is not a valid e-mail address", code: .invalidUserEmail) }
        return email
    }

    // MARK: Reads

    /// The records of these ids in one MGET, in order; nil where the record is gone (expired,
    /// revoked) or unreadable.
    static func load(_ ids: [String], context: Context) throws(RedisError) -> [Record?] {
        guard !ids.isEmpty else { return [] }
        let values = try context.redis.command(["MGET"] + ids.map(Keyspace.tokenInfo)).array
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
            throw APIError(403, .forbidden, "Access denied: this token belongs to another user", [("token_id", .string(id))])
        }
        return record
    }

    static func notFound(_ id: String) -> APIError {
        APIError(404, .notFound, "Token not found", [("token_id", .string(id))])
    }

    /// Which of these ids have a `revoked:token` record, in one round trip.
    static func revokedFlags(_ ids: [String], context: Context) throws(RedisError) -> [Bool] {
        try context.revocations.areRevoked(ids)
    }

    // MARK: Revocation

    /// Revokes the tokens (`Revocations.revoke`, which also moves them from the admin token
    /// indexes to the revoked index): each stays refused for its remaining lifetime plus the JWT
    /// clock leeway, so for as long as its signature could still pass.
    static func revoke(_ records: [Record], context: Context) throws(RedisError) {
        let leeway = context.config.jwt.leeway
        try context.revocations.revoke(
            records.map { record in
                let remaining = (record.expiresAt ?? context.now + context.config.tokenMaxTTL) - context.now
                var owners = [record.email]
                if record.storedEmail != record.email, !record.storedEmail.isEmpty { owners.append(record.storedEmail) }
                return Revocations.Token(id: record.id, owners: owners, seconds: max(remaining, 0) + leeway)
            }, now: context.now)
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

    /// Newest first, ties by id descending: the order of the admin lists' cursors (`IndexCursor`).
    static func newestFirstThenID(_ lhs: Record, _ rhs: Record) -> Bool {
        lhs.createdAt != rhs.createdAt ? lhs.createdAt > rhs.createdAt : lhs.id > rhs.id
    }
}
