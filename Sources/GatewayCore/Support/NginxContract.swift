/// The names nginx and the workers share, spelled once here: the access checks nginx names in
/// `GATEWAY_CHECK`, the `X-Gateway-*` headers of a worker's answer that nginx reads
/// (`$upstream_http_x_gateway_*`), and the named locations a worker's `X-Accel-Redirect` sends a
/// request to. `NginxContractTests` fails when openresty/*.conf (or the scripts that generate
/// parts of it) names one that is not here, or this names one nginx does not.
public enum GatewayCheck: String, CaseIterable, Sendable {
    /// Every /v1 call (the `auth_request` subrequest).
    case jwt
    /// LiteLLM's admin surface.
    case admin
    /// `POST /key/generate` by any signed-in user.
    case litellmUser = "litellm-user"
    case pageUser = "page-user"
    case pageAdmin = "page-admin"
    case pageSuperAdmin = "page-super-admin"
    /// LiteLLM's admin UI (/ui).
    case pageLitellmUI = "page-litellm-ui"
    /// Only on nginx's internal metrics listener.
    case metrics
    /// A refusal nginx made itself (a body over its limit) and hands to a worker to be answered
    /// and counted (`NginxRefusal`).
    case refusal

    /// UI pages: refusals as an HTML page for a browser.
    public var isPage: Bool { rawValue.hasPrefix("page-") }
}

/// Headers of a worker's answer that nginx reads (never sent on to the client).
public enum GatewayHeader: String, CaseIterable, Sendable {
    case email = "X-Gateway-Email"
    case authorization = "X-Gateway-Authorization"
    case spendMetadata = "X-Gateway-Spend-Metadata"
    case path = "X-Gateway-Path"
    case user = "X-Gateway-User"
    case body = "X-Gateway-Body"
    case adminAction = "X-Gateway-Admin-Action"
    case uiCookie = "X-Gateway-UI-Cookie"
    /// An `auth_request` refusal's real status and JSON body (`Router.subrequestRefusal`).
    case status = "X-Gateway-Status"
    case error = "X-Gateway-Error"

    /// How nginx names it: `$upstream_http_x_gateway_email`.
    public var nginxVariable: String { "upstream_http_" + String(rawValue.lowercased().map { $0 == "-" ? "_" : $0 }) }
}

/// The named locations a worker's `X-Accel-Redirect` sends an allowed request to.
public enum NginxLocation: String, CaseIterable, Sendable {
    case litellmAdmin = "@litellm_admin"
    case litellmKeyGenerate = "@litellm_key_generate"
    case litellmAdminUI = "@litellm_admin_ui"
}
