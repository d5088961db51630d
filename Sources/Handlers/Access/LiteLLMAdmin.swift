import FCGIRuntime
import GatewayCore

/// Replaces `admin_check.lua` + `key_generate_handler.lua`: the access checks in front of
/// LiteLLM's own admin surface and of `POST /key/generate`.
///
/// `Router` has already enforced the route's access (identity, ban, and for `admin` the one
/// admin rule); these handlers only say how nginx forwards an allowed request:
/// `X-Accel-Redirect: @litellm_admin` plus the headers nginx applies there (LiteLLM's master
/// key and the caller's identity). nginx replays the original request (method, query, body)
/// to LiteLLM; the worker's answer headers never reach the client, so the master key stays
/// between the worker, nginx and LiteLLM.
enum LiteLLMAdmin {
    static let upstreamLocation = NginxLocation.litellmAdmin.rawValue

    /// `GATEWAY_CHECK admin`: `/ui`, `/admin/`, `/key/*`, `/user/*`, `/team/*`,
    /// `/organization/*`, `/spend/*`, `/sso/*`, `/v1/mcp`, `/v1/internal`; admins only.
    /// Cross-site requests are refused whatever the method (`LiteLLMUI.requireSameOrigin`).
    static func check(_ request: Request, _ context: Context) throws -> Response {
        let email = try context.requireIdentity()
        try LiteLLMUI.requireSameOrigin(request, publicURL: context.config.publicURL)
        if changesState(request.method) {
            Audit.record(
                .litellmAdmin, target: request.path, result: "forwarded",
                details: ["method": .string(request.method)], context: context)
        }
        return forward(email: email, adminAction: true, context: context)
    }

    // --- boundary-policy: POST /key/generate body allow-list (docs/security.md P3) -----------------

    static let keyGenerateLocation = NginxLocation.litellmKeyGenerate.rawValue
    /// The body fields a user may set on their own key; everything else (user_id, user_role,
    /// team_id, organization_id, key, allowed_routes, budgets, limits, ...) is refused.
    static let keyGenerateFields = ["key_alias", "duration", "models", "metadata"]
    /// Largest body accepted, and largest body forwarded (it travels to nginx in a response
    /// header; `openresty/litellm_key_generate.conf` sizes fastcgi_buffer_size for it).
    static let keyGenerateMaxBody = 4096
    static let keyGenerateMaxForwarded = 8192

    /// `GATEWAY_CHECK litellm-user`: `POST /key/generate` by any signed-in, non-banned user,
    /// who obtains a LiteLLM virtual key bound to them. nginx passes the body here; the worker
    /// checks it against the allow-list, builds the body LiteLLM gets (the allowed fields plus
    /// `user_id` = the caller's e-mail) and hands it back in `X-Gateway-Body`, which the named
    /// location sends instead of the client's (`proxy_set_body`).
    static func keyGenerate(_ request: Request, _ context: Context) throws -> Response {
        let email = try context.requireIdentity()
        guard request.method == "POST" else {
            throw APIError(405, .methodNotAllowed, "Method \(request.method) not allowed", [("allowed", "POST")])
        }
        guard request.body.count <= keyGenerateMaxBody else {
            throw APIError(413, .bodyTooLarge, "Request body must be at most \(keyGenerateMaxBody) bytes")
        }
        let forwarded = try keyGenerateBody(try request.jsonObject(allowEmpty: true), email: email)
        guard forwarded.utf8.count <= keyGenerateMaxForwarded else {
            throw APIError(413, .bodyTooLarge, "Request body is too large once encoded")
        }
        Audit.record(.litellmKeyGenerate, target: email, result: "forwarded", context: context)
        return Response(
            status: 200,
            headers: [
                ("X-Accel-Redirect", keyGenerateLocation),
                (GatewayHeader.authorization.rawValue, "Bearer \(context.config.litellmMasterKey)"),
                (GatewayHeader.user.rawValue, email),
                (GatewayHeader.body.rawValue, forwarded),
            ])
    }

    /// The body LiteLLM receives, as one line of ASCII JSON (safe in a header): the allowed
    /// fields, type-checked (`metadata`: plain labels, `KeyMetadata`), then `user_id`. 400 naming
    /// the first field that is not allowed.
    static func keyGenerateBody(_ body: JSON, email: String) throws(APIError) -> String {
        guard case .object(let fields) = body else { throw .badRequest("Request body must be a JSON object", code: .invalidJSON) }
        var out: [(String, JSON)] = []
        for (name, value) in fields {
            guard keyGenerateFields.contains(name) else {
                throw APIError(
                    400, .fieldNotAllowed, "Field \"\(name)\" is not allowed; allowed: \(keyGenerateFields.joined(separator: ", "))",
                    [("field", .string(name))])
            }
            let valid: Bool =
                switch (name, value) {
                case ("key_alias", .string(let text)): !text.isEmpty && text.count <= 256
                case ("duration", .string(let text)): !text.isEmpty && text.count <= 32
                case ("duration", .null): true
                case ("models", .array(let models)):
                    models.count <= 100 && models.allSatisfy { $0.stringValue.map { !$0.isEmpty } ?? false }
                case ("metadata", .object): true
                default: false
                }
            guard valid else {
                throw APIError(400, .invalidField, "Field \"\(name)\" has an invalid value", [("field", .string(name))])
            }
            if name == "metadata" { _ = try KeyMetadata.check(value) }  // labels only, never key settings
            out.append((name, value))
        }
        out.append(("user_id", .string(email)))
        return JSON.object(out).asciiText
    }

    static func forward(email: String, adminAction: Bool, context: Context) -> Response {
        var headers = [
            ("X-Accel-Redirect", upstreamLocation),
            (GatewayHeader.authorization.rawValue, "Bearer \(context.config.litellmMasterKey)"),
            (GatewayHeader.user.rawValue, email),
            (GatewayHeader.path.rawValue, context.forwardPath),
        ]
        // Absent for key generation: nginx then sends no X-Admin-Action to LiteLLM.
        if adminAction { headers.append((GatewayHeader.adminAction.rawValue, "true")) }
        return Response(status: 200, headers: headers)
    }

    /// Reads (the UI's pages and lists) are not audited, every change is.
    static func changesState(_ method: String) -> Bool {
        !["GET", "HEAD", "OPTIONS"].contains(method)
    }
}
