import FCGIRuntime
import GatewayCore

/// LiteLLM's own admin UI (`/ui`) for gateway admins, signed in as LiteLLM's proxy admin
/// without the master key ever reaching the browser (docs/deployment.md, "LiteLLM's admin UI").
///
/// LiteLLM's UI keeps its session in a `token` cookie that its script reads: a JWT whose claims
/// say who is signed in (`user_role`, `user_email`) and which key the UI sends as
/// `Authorization` on every call (`key`). LiteLLM's own sign-in signs it with the master key and
/// puts a virtual key in it. The gateway instead hands an admin's page load a cookie of the same
/// shape whose `key` is a placeholder, signed with a key derived from the gateway's JWT secret
/// (the UI never checks the signature; LiteLLM never sees the cookie, nginx drops `Cookie`).
/// Every call the UI then makes goes through the admin check, where nginx replaces the
/// placeholder with the master key. The cookie grants nothing by itself.
enum LiteLLMUI {
    static let location = NginxLocation.litellmAdminUI.rawValue
    static let cookieName = "token"
    /// What the UI sends as `Authorization: Bearer …`; nginx replaces it before LiteLLM sees it.
    static let placeholderKey = "gateway-managed-session"
    /// LiteLLM's name for the proxy admin signed in without a user row (`LITELLM_PROXY_ADMIN_NAME`).
    static let proxyAdminUserID = "default_user_id"
    /// The cookie's lifetime; every page load under /ui renews it while the person is an admin.
    static let lifetime: Int64 = 8 * 3600

    /// `GATEWAY_CHECK page-litellm-ui`: `/ui` and everything under it. Router has checked the
    /// admin rule (denials are HTML pages, as for the gateway's own pages); an admin's request
    /// goes to LiteLLM with the master key, and the answer carries the UI session cookie.
    static func check(_ request: Request, _ context: Context) throws -> Response {
        let email = try context.requireIdentity()
        var response = LiteLLMAdmin.forward(email: email, adminAction: true, context: context)
        response.headers = response.headers.map { $0.name == "X-Accel-Redirect" ? ($0.name, location) : $0 }
        let uiCookie = cookie(email: email, secure: isSecure(request, context), context: context)
        response.headers.append((GatewayHeader.uiCookie.rawValue, uiCookie))
        return response
    }

    static func isSecure(_ request: Request, _ context: Context) -> Bool {
        let origin = context.config.publicURL ?? request.params["GATEWAY_ORIGIN"] ?? ""
        return origin.lowercased().hasPrefix("https://")
    }

    /// `token=<JWT>; Path=/ui; …`: readable by the UI's script (not HttpOnly), never sent to
    /// another site (SameSite=Strict), Secure behind https.
    static func cookie(email: String, secure: Bool, context: Context) -> String {
        let claims: JSON = .object([
            ("user_id", .string(proxyAdminUserID)),
            ("key", .string(placeholderKey)),
            ("user_email", .string(email)),
            ("user_role", .string("proxy_admin")),
            ("login_method", .string("sso")),
            ("premium_user", .bool(false)),
            ("auth_header_name", .string("Authorization")),
            ("disabled_non_admin_personal_key_creation", .bool(false)),
            ("server_root_path", .string("")),
            ("password_reset_required", .bool(false)),
            ("iss", .string("llm-gateway-litellm-ui")),
            ("exp", .int(context.now + lifetime)),
        ])
        let token = JWTCodec(secrets: [signingKey(context.config)], acceptedIssuers: []).sign(claims)
        return "\(cookieName)=\(token); Path=/ui; Max-Age=\(lifetime); SameSite=Strict" + (secure ? "; Secure" : "")
    }

    /// Not the master key and not the API tokens' secret itself: an HMAC of a label under it.
    static func signingKey(_ config: Config) -> [UInt8] {
        Crypto.hmacSHA256(key: config.jwt.secrets[0], message: Array("litellm-ui-session".utf8))
    }

    // --- Cross-site requests to LiteLLM's admin surface ----------------------------------------

    static let crossSite = APIError(403, .csrf, "Cross-site request refused")

    /// Every request to LiteLLM's admin surface (any method: some of LiteLLM's GET routes change
    /// state) must come from the gateway's own origin: the OAuth2 cookie is SameSite=Lax, so a
    /// link on another site would otherwise send an admin's top-level GET with the master key.
    /// Refused: `Sec-Fetch-Site` cross-site or same-site, an `Origin` or `Referer` naming another
    /// host. Requests with none of the three (curl, scripts) are not cross-site browser requests.
    static func requireSameOrigin(_ request: Request, publicURL: String?) throws(APIError) {
        if let site = request.header("Sec-Fetch-Site")?.lowercased(), site != "same-origin", site != "none" {
            throw crossSite
        }
        let own = [request.params["GATEWAY_ORIGIN"], publicURL].compactMap { $0.flatMap(SameOrigin.authority(of:)) }
        for name in ["Origin", "Referer"] {
            guard let value = request.header(name) else { continue }
            guard let host = SameOrigin.authority(of: value), own.contains(host) else { throw crossSite }
        }
    }
}
