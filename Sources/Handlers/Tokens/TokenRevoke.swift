import FCGIRuntime
import GatewayCore

/// Replaces `token_revoke.lua`: `POST /api/token/revoke` `{token_id}`, the
/// caller's own token only. The next /v1 call with the token is refused on every worker,
/// because the access check reads `revoked:token:{id}` on every call.
enum TokenRevoke {
    static func post(_ request: Request, _ context: Context) throws -> Response {
        let email = try context.requireIdentity()
        let id = try TokenStore.tokenID(try request.jsonObject()["token_id"])
        let record = try TokenStore.owned(id, by: email, context: context)
        try TokenStore.revoke([record], context: context)
        context.logger.info("token revoked by its owner", metadata: ["token.id": "\(id)"])
        Audit.record(.selfTokenRevoke, target: id, details: ["token_name": record.field("token_name")], context: context)
        let body: JSON = ["success": true, "message": "Token revoked successfully", "token_id": .string(id)]
        return .json(200, body.text)
    }
}
