import FCGIRuntime
import Testing

@testable import GatewayCore
@testable import Handlers

/// The /v1 token in `Authorization: Bearer` or `x-api-key` (Anthropic convention), and the
/// refusal of two different tokens in one request.
struct TokenHeaderTests {
    let redis: RedisServer
    let router: Router

    init() throws {
        let started = try TestGateway.start([:])
        (redis, router) = (started.0, started.2)
    }

    func token(_ email: String) throws -> String {
        let response = router.respond(
            to: Request(
                params: [
                    "REQUEST_METHOD": "POST", "DOCUMENT_URI": "/api/token/generate", Request.identityParam: email,
                    "CONTENT_TYPE": "application/json",
                ], body: Array("{}".utf8)))
        return try #require(try JSON.parse(response.body)["token"]?.stringValue)
    }

    func check(_ headers: [String: String]) -> Response {
        var params = [
            "REQUEST_METHOD": "POST", "DOCUMENT_URI": "/v1/messages", "REQUEST_URI": "/v1/messages", "GATEWAY_CHECK": "jwt",
        ]
        params.merge(headers) { $1 }
        return router.respond(to: Request(params: params, body: []))
    }

    func code(_ response: Response) -> String? {
        (try? JSON.parse(response.body))?["error"]?["code"]?.stringValue
    }

    @Test func eitherHeaderCarriesTheToken() throws {
        let good = try token("kim@example.com")
        let other = try token("lee@example.com")
        // (headers, status, code)
        let cases: [([String: String], Int, String?)] = [
            (["HTTP_AUTHORIZATION": "Bearer \(good)"], 200, nil),
            (["HTTP_X_API_KEY": good], 200, nil),
            (["HTTP_X_API_KEY": " \(good) "], 200, nil),
            (["HTTP_AUTHORIZATION": "Bearer \(good)", "HTTP_X_API_KEY": good], 200, nil),
            (["HTTP_AUTHORIZATION": "Bearer \(good)", "HTTP_X_API_KEY": other], 401, "token_conflict"),
            (["HTTP_AUTHORIZATION": "Bearer \(other)", "HTTP_X_API_KEY": good], 401, "token_conflict"),
            (["HTTP_AUTHORIZATION": "Bearer \(good)", "HTTP_X_API_KEY": "junk"], 401, "token_conflict"),
            (["HTTP_AUTHORIZATION": "Basic \(good)", "HTTP_X_API_KEY": good], 401, "token_missing"),
            (["HTTP_X_API_KEY": "not-a-jwt"], 401, "token_malformed"),
            (["HTTP_X_API_KEY": ""], 401, "token_missing"),
            ([:], 401, "token_missing"),
        ]
        for (headers, status, expected) in cases {
            let response = check(headers)
            #expect(response.status == status, "\(headers.keys.sorted())")
            if let expected { #expect(code(response) == expected, "\(headers.keys.sorted())") }
        }
    }
}
