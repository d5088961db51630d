import FCGIRuntime
import GatewayCore

/// Replaces `token_info.lua`: `GET /api/token/info?token_id=` (SPEC 5.2), the caller's own
/// token only.
enum TokenInfo {
    static func get(_ request: Request, _ context: Context) throws -> Response {
        let email = try context.requireIdentity()
        let id = try TokenStore.tokenID(request.queryValue("token_id") ?? "")
        let record = try TokenStore.owned(id, by: email, context: context)
        var fields: [(String, JSON)] = []
        if case .object(let stored) = record.info { fields = stored }
        if record.info["last_used"] == nil { fields.append(("last_used", .null)) }
        fields.append(("is_expired", .bool(record.isExpired(now: context.now))))
        let body: JSON = ["success": true, "token_info": .object(fields)]
        return .json(200, body.text)
    }
}
