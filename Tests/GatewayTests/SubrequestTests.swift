import FCGIRuntime
import Testing

@testable import GatewayCore
@testable import Handlers

/// The /v1 check asked through nginx's auth_request (`GATEWAY_SUBREQUEST`): nginx passes on only
/// 401 and 403, so every refusal is one of those, with the real status and the exact JSON body
/// in headers; and a forwarded path too long for nginx's buffer is a 414 before any token work.
struct SubrequestTests {
    static func request(_ uri: String, token: String? = nil, subrequest: Bool = true) -> Request {
        var params = ["REQUEST_METHOD": "POST", "DOCUMENT_URI": uri, "REQUEST_URI": uri, "GATEWAY_CHECK": "jwt"]
        if subrequest { params["GATEWAY_SUBREQUEST"] = "1" }
        if let token { params["HTTP_AUTHORIZATION"] = "Bearer \(token)" }
        return Request(params: params, body: [])
    }

    static func header(_ response: Response, _ name: String) -> String? {
        response.headers.first { $0.name == name }?.value
    }

    /// (path, token, status nginx sees, status the client gets, code)
    static let refusals: [(String, String?, Int, Int, String)] = [
        ("/v1/chat/completions", nil, 401, 401, "token_missing"),
        ("/v1/chat/completions", "abc", 401, 401, "token_malformed"),
        ("/v1/not-a-route", nil, 403, 404, "route_not_allowed"),
        ("/v1/./chat/completions", nil, 403, 400, "ambiguous_path"),
        ("/v1/responses/" + String(repeating: "|", count: 2800), nil, 403, 414, "uri_too_long"),
    ]

    @Test(arguments: 0..<refusals.count)
    func refusalsTravelInHeadersOf401Or403(row: Int) throws {
        let (path, token, nginxStatus, status, code) = SubrequestTests.refusals[row]
        let (redis, _, router, _) = try TestGateway.start([:])
        _ = redis
        let direct = router.respond(to: SubrequestTests.request(path, token: token, subrequest: false))
        let asked = router.respond(to: SubrequestTests.request(path, token: token))
        #expect(direct.status == status)
        #expect(asked.status == nginxStatus)
        #expect(SubrequestTests.header(asked, "X-Gateway-Status") == String(status))
        // Byte for byte the body the worker answers when asked directly.
        #expect(SubrequestTests.header(asked, "X-Gateway-Error").map { Array($0.utf8) } == direct.body)
        #expect((try JSON.parse(direct.body))["error"]?["code"]?.stringValue == code)
    }

    @Test func forwardPathAtTheLimitIsAccepted() throws {
        let (redis, _, router, _) = try TestGateway.start([:])
        _ = redis
        let atLimit = "/v1/responses/" + String(repeating: "a", count: RequestTarget.maxForwardBytes - 14)
        let response = router.respond(to: SubrequestTests.request(atLimit))
        // Past the path check: the token check refuses (no token), not the length.
        #expect(SubrequestTests.header(response, "X-Gateway-Status") == "401")
    }
}
