import FCGIRuntime
import GatewayCore

/// Replaces `token_list.lua`: `GET /api/token/list` (SPEC 5.3), the caller's tokens, newest
/// first. Ids whose record has expired are removed from `user:tokens:{email}` on the way.
enum TokenList {
    static func get(_ request: Request, _ context: Context) throws -> Response {
        let email = try context.requireIdentity()
        let ids = try context.redis.scanAll(["SSCAN", TokenStore.setKey(email)])
        let records = try TokenStore.load(ids, context: context)
        var live: [TokenStore.Record] = []
        var gone: [String] = []
        for (id, record) in zip(ids, records) {
            if let record, !record.isExpired(now: context.now) { live.append(record) } else { gone.append(id) }
        }
        if !gone.isEmpty {
            // Only ids without a live record: their info is gone or past its expiry.
            _ = try context.redis.transaction(
                gone.map { ["DEL", TokenStore.infoKey($0)] } + [["SREM", TokenStore.setKey(email)] + gone]
                    + gone.flatMap { AdminIndex.removeToken(id: $0, emails: [email]) })
            context.logger.info("expired token ids pruned", metadata: ["count": "\(gone.count)"])
        }
        let tokens = live.sorted(by: TokenStore.newestFirst).map {
            TokenStore.view($0, now: context.now, owner: false, revoked: nil)
        }
        let body: JSON = ["success": true, "tokens": .array(tokens), "count": JSON(tokens.count), "user_email": .string(email)]
        return .json(200, body.text)
    }
}
