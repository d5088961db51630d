import FCGIRuntime
import GatewayCore

/// Replaces `token_admin.lua`: the admins' token management. Lists page with
/// `limit`/`cursor` over the token index (`AdminIndex`, keyset cursors; a caller that sends
/// neither gets the whole list, as the Lua gave it); every revocation, refused or done, is
/// written to the audit log.
enum TokenAdmin {
    static let prefix = "/api/admin/tokens/"

    /// `GET /api/admin/tokens[?limit=&cursor=]`: stored tokens with their status, newest first,
    /// read from the token index (`AdminIndex.tokens`), and the totals of the whole keyspace.
    /// `limit` items exactly (fewer only on the last page); without `limit` and `cursor` the
    /// whole list, as the Lua gave it.
    static func list(_ request: Request, _ context: Context) throws -> Response {
        let (records, next) = try IndexPage.listing(
            AdminIndex.tokens, request: request, redis: context.redis,
            resolve: { entries in try TokenStore.load(entries.map(\.member), context: context) },
            stale: { entries in
                // Record gone (expired, or revoked by the Lua gateway): out of the list index;
                // the cleanup removes the id from its owner's set and the expiry index.
                _ = try context.redis.command(["ZREM", AdminIndex.tokens] + entries.map(\.member))
            })
        let revoked = try TokenStore.revokedFlags(records.map(\.id), context: context)
        let body: JSON = [
            "tokens": .array(zip(records, revoked).map { TokenStore.view($0, now: context.now, owner: true, revoked: $1) }),
            "summary": try summary(context), "next_cursor": JSON(next?.text),
        ]
        return .json(200, try IndexBuild.withProgress(body, context.redis).text)
    }

    /// The totals of the whole keyspace from the indexes, in one round trip: `active` tokens
    /// (not expired, not revoked), `expired` ones the cleanup has not yet pruned, `revoked`
    /// ones whose revocation is still in force; `total` is their sum.
    static func summary(_ context: Context) throws(RedisError) -> JSON {
        let now = String(context.now)
        let replies = try context.redis.pipeline([
            ["ZCOUNT", AdminIndex.tokenExpiry, "(" + now, "+inf"], ["ZCOUNT", AdminIndex.tokenExpiry, "-inf", now],
            ["ZCOUNT", AdminIndex.revoked, "(" + now, "+inf"],
        ])
        let counts = replies.map { $0.integer ?? 0 }
        return [
            "total": .int(counts.reduce(0, +)), "active": .int(counts[0]), "expired": .int(counts[1]), "revoked": .int(counts[2]),
        ]
    }

    /// `GET /api/admin/tokens/{email}[?limit=&cursor=]` (nginx has percent-decoded the path; `+`
    /// stays `+`): one user's tokens, newest first, paged like the whole list. The user's set
    /// is read whole (it is one person's tokens) and ordered here.
    static func user(_ request: Request, _ context: Context) throws -> Response {
        let rest = String(request.path.dropFirst(prefix.count))
        guard rest.contains("@") else {
            throw APIError.badRequest("Expected a user e-mail: GET /api/admin/tokens/{email}", code: .invalidUserEmail)
        }
        let email = try TokenStore.userEmail(rest)
        let limit = try Paging.limit(request)
        let cursor = try IndexCursor.parse(request)
        var ids = try context.redis.scanAll(["SSCAN", Keyspace.userTokens(email)])
        ids += try legacyTokenIDs(email, excluding: Set(ids), complete: false, context: context)  // Lua-era sets (capitals)
        var records = try TokenStore.load(ids, context: context).compactMap { $0 }.sorted(by: TokenStore.newestFirstThenID)
        if let cursor { records = records.filter { cursor.precedes(score: $0.createdAt, member: $0.id) } }
        var next: IndexCursor?
        if limit != nil || cursor != nil {
            let size = limit ?? 100
            if records.count > size, let last = records.prefix(size).last {
                next = IndexCursor(score: last.createdAt, member: last.id)
            }
            records = Array(records.prefix(size))
        }
        let revoked = try TokenStore.revokedFlags(records.map(\.id), context: context)
        let tokens = zip(records, revoked).map { TokenStore.view($0, now: context.now, owner: false, revoked: $1) }
        let body: JSON = [
            "user_email": .string(email), "tokens": .array(tokens), "count": JSON(tokens.count), "next_cursor": JSON(next?.text),
        ]
        return .json(200, body.text)
    }

    /// `DELETE /api/admin/tokens/{token_id}`.
    static func revoke(_ request: Request, _ context: Context) throws -> Response {
        let admin = try context.requireIdentity()
        let rest = String(request.path.dropFirst(prefix.count))
        guard !rest.contains("@") else {
            throw APIError.badRequest(
                "Expected a token id; to revoke all of a user's tokens use POST /api/admin/tokens/revoke-user", code: .invalidTokenID)
        }
        let id = try TokenStore.tokenID(rest)
        guard let record = try TokenStore.find(id, context: context) else {
            Audit.record(.tokenRevoke, target: id, result: "not_found", context: context)
            throw TokenStore.notFound(id)
        }
        try audited(.tokenRevoke, target: id, context: context) {
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
            throw APIError.badRequest("user_email must be a string", code: .invalidUserEmail)
        }
        let email = try TokenStore.userEmail(value?.stringValue)
        var ids = try context.redis.scanAll(["SSCAN", Keyspace.userTokens(email)])
        ids += try legacyTokenIDs(email, excluding: Set(ids), complete: true, context: context)
        let records = try TokenStore.load(ids, context: context).compactMap { $0 }
        try audited(.tokenRevokeUser, target: email, context: context) {
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
    /// (`user:tokens:Alice@Example.com`), not already in `excluding` (`complete`: see
    /// `LegacyEmailKeys.otherSpellings`).
    static func legacyTokenIDs(_ email: String, excluding: Set<String>, complete: Bool, context: Context) throws(RedisError) -> [String] {
        var found: [String] = []
        var seen = excluding
        for key in try LegacyEmailKeys.otherSpellings(prefix: Keyspace.userTokensPrefix, email: email, complete: complete, context: context)
        {
            for id in try context.redis.scanAll(["SSCAN", key]) where seen.insert(id).inserted {
                found.append(id)
            }
        }
        return found
    }

    /// Runs a revocation and writes its outcome to the audit log: the details it returns on
    /// success, "failed" with the cause when it throws (the error is rethrown).
    static func audited(_ action: AuditAction, target: String, context: Context, _ work: () throws -> JSON) throws {
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
}
