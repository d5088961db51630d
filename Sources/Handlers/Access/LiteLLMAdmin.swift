import FCGIRuntime
import GatewayCore

/// Replaces `admin_check.lua` + `key_generate_handler.lua`: the access checks in front of
/// LiteLLM's own admin surface (SPEC 5.8) and of `POST /key/generate` (SPEC 5.9).
///
/// `Router` has already enforced the route's access (identity, ban, and for `admin` the one
/// admin rule); these handlers only say how nginx forwards an allowed request:
/// `X-Accel-Redirect: @litellm_admin` plus the headers nginx applies there (LiteLLM's master
/// key and the caller's identity). nginx replays the original request (method, query, body)
/// to LiteLLM; the worker's answer headers never reach the client, so the master key stays
/// between the worker, nginx and LiteLLM.
enum LiteLLMAdmin {
    static let upstreamLocation = "@litellm_admin"

    /// `GATEWAY_CHECK admin`: `/ui`, `/admin/`, `/key/*`, `/user/*`, `/team/*`,
    /// `/organization/*`, `/spend/*`, `/sso/*`, `/v1/mcp`, `/v1/internal`; admins only.
    static func check(_ request: Request, _ context: Context) throws -> Response {
        let email = try context.requireIdentity()
        if changesState(request.method) {
            Audit.record(
                "litellm.admin", target: request.path, result: "forwarded",
                details: ["method": .string(request.method)], context: context)
        }
        return forward(email: email, adminAction: true, context: context)
    }

    /// `GATEWAY_CHECK litellm-user`: `POST /key/generate` by any signed-in, non-banned user,
    /// who obtains a LiteLLM virtual key.
    static func keyGenerate(_ request: Request, _ context: Context) throws -> Response {
        let email = try context.requireIdentity()
        guard request.method == "POST" else {
            throw APIError(405, "method_not_allowed", "Method \(request.method) not allowed", [("allowed", "POST")])
        }
        Audit.record("litellm.key_generate", target: email, result: "forwarded", context: context)
        return forward(email: email, adminAction: false, context: context)
    }

    static func forward(email: String, adminAction: Bool, context: Context) -> Response {
        var headers = [
            ("X-Accel-Redirect", upstreamLocation),
            ("X-Gateway-Authorization", "Bearer \(context.config.litellmMasterKey)"),
            ("X-Gateway-User", email),
        ]
        // Absent for key generation: nginx then sends no X-Admin-Action to LiteLLM.
        if adminAction { headers.append(("X-Gateway-Admin-Action", "true")) }
        return Response(status: 200, headers: headers)
    }

    /// Reads (the UI's pages and lists) are not audited, every change is.
    static func changesState(_ method: String) -> Bool {
        !["GET", "HEAD", "OPTIONS"].contains(method)
    }
}
