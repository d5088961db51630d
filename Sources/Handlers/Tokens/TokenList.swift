import FCGIRuntime
import GatewayCore

/// Replaces `token_list.lua`: `GET /api/token/list`, the caller's tokens, newest
/// first. Ids whose record has expired are removed from `user:tokens:{email}` on the way.
enum TokenList {
    static func get(_ request: Request, _ context: Context) throws -> Response {
        let email = try context.requireIdentity()
        var ids = try context.redis.scanAll(["SSCAN", Keyspace.userTokens(email)])
        // Tokens the Lua gateway filed under the e-mail as OAuth2 Proxy spells it (capitals).
        let spelled = Email.spelling(request.params[Request.identityParam], normalized: email)
        if let spelled {
            let known = Set(ids)
            ids += try context.redis.scanAll(["SSCAN", Keyspace.userTokens(spelled)]).filter { !known.contains($0) }
        }
        let records = try TokenStore.load(ids, context: context)
        var live: [TokenStore.Record] = []
        var gone: [String] = []
        for (id, record) in zip(ids, records) {
            if let record, !record.isExpired(now: context.now) { live.append(record) } else { gone.append(id) }
        }
        if !gone.isEmpty {
            // Only ids without a live record: their info is gone or past its expiry.
            try context.redis.transaction(
                gone.map { ["DEL", Keyspace.tokenInfo($0)] } + [["SREM", Keyspace.userTokens(email)] + gone]
                    + (spelled.map { [["SREM", Keyspace.userTokens($0)] + gone] } ?? [])
                    + gone.flatMap { AdminIndex.removeToken(id: $0, emails: [email] + (spelled.map { [$0] } ?? [])) })
            context.logger.info("expired token ids pruned", metadata: ["count": "\(gone.count)"])
        }
        let tokens = live.sorted(by: TokenStore.newestFirst).map {
            TokenStore.view($0, now: context.now, owner: false, revoked: nil)
        }
        let body: JSON = ["success": true, "tokens": .array(tokens), "count": JSON(tokens.count), "user_email": .string(email)]
        return .json(200, body.text)
    }
}
