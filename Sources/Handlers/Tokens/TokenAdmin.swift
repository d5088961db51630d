import FCGIRuntime
import GatewayCore

/// Replaces `token_admin.lua`: the admins' token management. Lists page with
/// `limit`/`cursor` over SCAN/SSCAN (a caller that sends neither gets the whole list, as the
/// Lua gave it); every revocation, refused or done, is written to the audit log.
enum TokenAdmin {
    static let prefix = "/api/admin/tokens/"

    /// `GET /api/admin/tokens`: every stored token with its status, and a summary.
    static func list(_ request: Request, _ context: Context) throws -> Response {
        let (keys, next) = try page(["SCAN"], match: Keyspace.pattern(prefix: Keyspace.tokenInfoPrefix), request, context)
        let ids = keys.map { String($0.dropFirst(Keyspace.tokenInfoPrefix.count)) }
        let records = try TokenStore.load(ids, context: context).compactMap { $0 }.sorted(by: TokenStore.newestFirst)
        let revoked = try TokenStore.revokedFlags(records.map(\.id), context: context)
        var active: Int64 = 0
        var expired: Int64 = 0
        for (record, isRevoked) in zip(records, revoked) {
            if record.isExpired(now: context.now) { expired += 1 } else if !isRevoked { active += 1 }
        }
        let total = Int64(records.count)
        let body: JSON = [
            "tokens": .array(zip(records, revoked).map { TokenStore.view($0, now: context.now, owner: true, revoked: $1) }),
            "summary": ["total": .int(total), "active": .int(active), "expired": .int(expired), "revoked": .int(total - active - expired)],
            "next_cursor": next,
        ]
        return .json(200, body.text)
    }

    /// `GET /api/admin/tokens/{email}` (nginx has percent-decoded the path; `+` stays `+`).
    static func user(_ request: Request, _ context: Context) throws -> Response {
        let rest = String(request.path.dropFirst(prefix.count))
        guard rest.contains("@") else {
            throw APIError.badRequest("Expected a user e-mail: GET /api/admin/tokens/{email}", code: "invalid_user_email")
        }
        let email = try TokenStore.email(rest, field: "user_email")
        var (ids, next) = try page(["SSCAN", Keyspace.userTokens(email)], match: nil, request, context)
        if (try ScanPage.cursor(request) ?? "0") == "0" {  // Lua-era sets (capitals), with the first page
            ids += try legacyTokenIDs(email, excluding: Set(ids), context: context)
        }
        let records = try TokenStore.load(ids, context: context).compactMap { $0 }.sorted(by: TokenStore.newestFirst)
        let revoked = try TokenStore.revokedFlags(records.map(\.id), context: context)
        let tokens = zip(records, revoked).map { TokenStore.view($0, now: context.now, owner: false, revoked: $1) }
        let body: JSON = ["user_email": .string(email), "tokens": .array(tokens), "count": JSON(tokens.count), "next_cursor": next]
        return .json(200, body.text)
    }

    /// `DELETE /api/admin/tokens/{token_id}`.
    static func revoke(_ request: Request, _ context: Context) throws -> Response {
        let admin = try context.requireIdentity()
        let rest = String(request.path.dropFirst(prefix.count))
        guard !rest.contains("@") else {
            throw APIError.badRequest(
                "Expected a token id; to revoke all of a user's tokens use POST /api/admin/tokens/revoke-user", code: "invalid_token_id")
        }
        let id = try TokenStore.tokenID(rest)
        guard let record = try TokenStore.find(id, context: context) else {
            Audit.record("token.revoke", target: id, result: "not_found", context: context)
            throw TokenStore.notFound(id)
        }
        try audited("token.revoke", target: id, context: context) {
            try TokenStore.revoke([record], context: context)
            return ["user_email": .string(record.storedEmail)]
        }
        let body: JSON = [
            "message": "Token revoked successfully", "token_id": .string(id), "user_email": .string(record.storedEmail),
            "revoked_by": .string(admin),
        ]
        return .json(200, body.text)
    }

    /// `POST /api/admin/tokens/revoke-user` `{user_email}`: all of the user's tokens at once.
    static func revokeUser(_ request: Request, _ context: Context) throws -> Response {
        let admin = try context.requireIdentity()
        let value = try request.jsonObject()["user_email"]
        if let value, !value.isNull, value.stringValue == nil {
            throw APIError.badRequest("user_email must be a string", code: "invalid_user_email")
        }
        let email = try TokenStore.email(value?.stringValue, field: "user_email")
        var ids = try context.redis.scanAll(["SSCAN", Keyspace.userTokens(email)])
        ids += try legacyTokenIDs(email, excluding: Set(ids), context: context)
        let records = try TokenStore.load(ids, context: context).compactMap { $0 }
        try audited("token.revoke_user", target: email, context: context) {
            try TokenStore.revoke(records, context: context)
            return ["revoked_count": JSON(records.count)]
        }
        let body: JSON = [
            "message": "All tokens revoked successfully", "user_email": .string(email), "revoked_count": JSON(records.count),
            "revoked_by": .string(admin),
        ]
        return .json(200, body.text)
    }

    /// Token ids the Lua gateway filed under another spelling of the e-mail
    /// (`user:tokens:Alice@Example.com`), not already in `excluding`.
    static func legacyTokenIDs(_ email: String, excluding: Set<String>, context: Context) throws(RedisError) -> [String] {
        var found: [String] = []
        var seen = excluding
        for key in try LegacyEmailKeys.otherSpellings(prefix: Keyspace.userTokensPrefix, email: email, context: context) {
            for id in try context.redis.scanAll(["SSCAN", key]) where seen.insert(id).inserted {
                found.append(id)
            }
        }
        return found
    }

    /// Runs a revocation and writes its outcome to the audit log: the details it returns on
    /// success, "failed" with the cause when it throws (the error is rethrown).
    static func audited(_ action: String, target: String, context: Context, _ work: () throws -> JSON) throws {
        let details: JSON
        do {
            details = try work()
        } catch {
            // The cause's code only: the audit log is shown to admins, Redis's text goes to the worker log.
            let cause = (error as? APIError)?.code ?? (error is RedisError ? "redis_unavailable" : "internal_error")
            Audit.record(action, target: target, result: "failed", details: ["error": .string(cause)], context: context)
            throw error
        }
        Audit.record(action, target: target, details: details, context: context)
    }

    /// The items of a list: all of them without `limit` and `cursor` (and `next_cursor` null),
    /// else one `ScanPage` (`limit` defaults to 100).
    static func page(_ command: [String], match: String?, _ request: Request, _ context: Context) throws -> ([String], JSON) {
        let limit = try Paging.limit(request)
        let cursor = try ScanPage.cursor(request)
        guard limit != nil || cursor != nil else {
            return (try context.redis.scanAll(command, match: match), .null)
        }
        let page = try ScanPage.fetch(command, match: match, cursor: cursor ?? "0", limit: limit ?? 100, redis: context.redis)
        return (page.items, JSON(page.nextCursor))
    }
}
