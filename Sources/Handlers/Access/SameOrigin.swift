import FCGIRuntime
import GatewayCore

/// CSRF protection for the browser APIs (new; the Lua gateway had none): a state-changing
/// request (any method but GET, HEAD, OPTIONS) carrying the OAuth2 cookie must come from the
/// gateway's own pages. Browsers say where a request comes from in `Sec-Fetch-Site` and
/// `Origin`, which a page on another site cannot set; nginx passes both (`HTTP_SEC_FETCH_SITE`,
/// `HTTP_ORIGIN`) and the origin the client addressed (`GATEWAY_ORIGIN` = `$scheme://$http_host`).
///
/// Refused: `Sec-Fetch-Site` other than `same-origin` or `none` (a user typing the URL), and an
/// `Origin` whose host differs from the request's own host and from `GATEWAY_PUBLIC_URL`'s
/// (`Origin: null` included). Requests without both headers (curl, scripts, old browsers) are
/// not cross-site browser requests and stay allowed: a forged cross-site request always
/// carries at least one of them in the browsers OAuth2 Proxy's cookie works in.
enum SameOrigin {
    static let refused = APIError(403, .csrf, "Cross-site request refused")

    static func check(_ request: Request, publicURL: String?) throws(APIError) {
        guard !["GET", "HEAD", "OPTIONS"].contains(request.method) else { return }
        if let site = request.header("Sec-Fetch-Site")?.lowercased(), site != "same-origin", site != "none" {
            throw refused
        }
        guard let origin = request.header("Origin") else { return }
        let host = authority(of: origin)
        let own = [request.params["GATEWAY_ORIGIN"], publicURL].compactMap { $0.flatMap(authority(of:)) }
        guard let host, own.contains(host) else { throw refused }
    }

    /// `host[:port]` of an origin or URL, lowercased; nil for `null` or anything without a scheme.
    /// The scheme is not compared: a TLS-terminating proxy in front of nginx makes `$scheme` http.
    static func authority(of origin: String) -> String? {
        guard let range = origin.range(of: "://") else { return nil }
        let rest = origin[range.upperBound...]
        let host = rest.prefix { $0 != "/" && $0 != "?" && $0 != "#" }
        return host.isEmpty ? nil : host.lowercased()
    }
}
