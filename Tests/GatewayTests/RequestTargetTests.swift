import FCGIRuntime
import Testing

@testable import GatewayCore
@testable import Handlers

/// RequestTarget: which raw request targets the worker lets nginx forward, and the exact path it
/// names (docs/security.md "Exact paths to LiteLLM").
struct RequestTargetTests {
    /// (raw target, nginx's normalised path, path to forward or nil for a refusal)
    static let cases: [(String, String, String?)] = [
        ("/v1/models", "/v1/models", "/v1/models"),
        ("/v1/chat/completions?stream=true&a=%2e%2e/", "/v1/chat/completions", "/v1/chat/completions"),
        ("/v1/mod%65ls", "/v1/models", "/v1/models"),
        ("/v1/models/a%20b", "/v1/models/a b", "/v1/models/a%20b"),
        ("/v1/models/%C3%A9", "/v1/models/é", "/v1/models/%C3%A9"),
        ("/ui/_next/[slug].js", "/ui/_next/[slug].js", "/ui/_next/%5Bslug%5D.js"),
        ("/v1/models/...", "/v1/models/...", "/v1/models/..."),
        ("/v1/.well-known", "/v1/.well-known", "/v1/.well-known"),
        ("/anthropic/v1/models%3F/../../../v1/models", "/v1/models", nil),
        ("/mcp/../v1/chat/completions", "/v1/chat/completions", nil),
        ("/plugin-proxy/x/y/../../../key/generate", "/key/generate", nil),
        ("/v1/./models", "/v1/models", nil),
        ("/v1/models/.", "/v1/models/", nil),
        ("/v1/models/..", "/v1/", nil),
        ("/v1//models", "/v1/models", nil),
        ("//v1/models", "/v1/models", nil),
        ("/v1/%2e%2e/key/info", "/key/info", nil),
        ("/v1/.%2E/key/info", "/key/info", nil),
        ("/v1%2Fmodels", "/v1/models", nil),
        ("/v1%2fmodels", "/v1/models", nil),
        ("/v1/models\\..\\x", "/v1/models\\..\\x", nil),
        ("/v1/models%5Cx", "/v1/models\\x", nil),
        ("/v1/models%23x", "/v1/models#x", nil),
        ("/v1/models%3Fx", "/v1/models?x", nil),
        ("/v1/models%25", "/v1/models%", nil),
        ("/v1/models%00", "/v1/models\u{0}", nil),
        ("/v1/models%0A", "/v1/models\n", nil),
        ("/v1/models%7F", "/v1/models\u{7F}", nil),
        ("/v1/models%zz", "/v1/models", nil),
        ("/v1/models%4", "/v1/models", nil),
        ("/v1/models%C3", "/v1/models", nil),
        ("/v1/mo dels", "/v1/mo dels", nil),
        ("/v1/models\u{1}", "/v1/models\u{1}", nil),
        ("/v1/modéls", "/v1/modéls", nil),
        ("/v1/models#frag", "/v1/models", nil),
        ("v1/models", "v1/models", nil),
        ("", "/v1/models", nil),
        ("?x", "/", nil),
        // The raw target must mean what nginx checked, byte for byte.
        ("/v1/models", "/v1/Models", nil),
        ("/v1/mod%65ls", "/v1/modals", nil),
        ("/v1/K", "/v1/\u{212A}", nil),
    ]

    @Test(arguments: cases)
    func forwardPath(raw: String, normalised: String, expected: String?) {
        #expect(RequestTarget.forwardPath(raw: raw, normalised: normalised) == expected)
    }

    @Test func routerRefusesAnAmbiguousTargetBeforeAnyCheck() throws {
        let (redis, _, router, _) = try TestGateway.start([:])
        _ = redis
        for (check, raw) in [("jwt", "/mcp/../v1/chat/completions"), ("admin", "/ui/../key/info"), ("litellm-user", "/key/x/../generate")] {
            let response = router.respond(
                to: Request(
                    params: [
                        "REQUEST_METHOD": "POST", "DOCUMENT_URI": "/v1/chat/completions", "REQUEST_URI": raw, "GATEWAY_CHECK": check,
                    ], body: []))
            #expect(response.status == 400)
            let body = try JSON.parse(response.body)
            #expect((body["code"] ?? body["error"]?["code"]) == "ambiguous_path")
            #expect(!response.headers.contains(where: { $0.name == "X-Accel-Redirect" }))
        }
    }
}
