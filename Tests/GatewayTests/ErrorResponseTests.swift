import FCGIRuntime
import Logging
import Testing

@testable import GatewayCore
@testable import Handlers

/// Every error answer carries a stable `code` and is rendered by the Router, the runtime's too.
struct ErrorResponseTests {
    let redis: RedisServer
    let config: Config
    let router: Router
    let client: RedisClient

    init() throws {
        (redis, config, router, client) = try TestGateway.start()
    }

    @Test func aBodyWithoutACodeGetsTheErrorsCode() {
        let error = APIError(status: 403, code: .banned, body: ["error": "Access denied"])
        #expect(error.body["code"] == "banned")
        let openAI = APIError.openAI(401, type: "authentication_error", code: .tokenExpired, message: "Token has expired")
        #expect(openAI.body["code"] == nil)
        #expect(openAI.body["error"]?["code"] == "token_expired")
    }

    @Test func theRuntimesBodyLimitIsRenderedLikeAHandlersError() throws {
        let api = router.respond(
            to: .bodyTooLarge(maxBytes: 1024),
            for: Request(params: ["REQUEST_METHOD": "POST", "DOCUMENT_URI": "/api/token/revoke"], body: []))
        #expect(api.status == 413)
        let body = try JSON.parse(api.body)
        #expect(body["code"] == "body_too_large")
        #expect(body["error"] == "Request body too large")
        #expect(body["max_bytes"] == .int(1024))

        // A browser loading the page gets a page; a program asking for it, the JSON.
        let page = router.respond(
            to: .bodyTooLarge(maxBytes: 1024),
            for: Request(
                params: ["DOCUMENT_URI": "/token-manager", "GATEWAY_CHECK": "page-user", "HTTP_SEC_FETCH_DEST": "document"],
                body: []))
        #expect(page.status == 413)
        #expect(page.headers.contains { $0.name == "Content-Type" && $0.value.hasPrefix("text/html") })
        let program = router.respond(
            to: .bodyTooLarge(maxBytes: 1024),
            for: Request(params: ["DOCUMENT_URI": "/token-manager", "GATEWAY_CHECK": "page-user"], body: []))
        #expect(program.status == 413 && program.headers.contains { $0.value.hasPrefix("application/json") })
    }

    @Test func banRefusalsCarryACode() throws {
        _ = try client.command("SET", "active_user_deleted:erin@example.com", "1", "EX", "600")
        for (path, status) in [("/api/token/list", 401), ("/api/admin/audit", 403)] {
            let response = router.respond(
                to: Request(params: ["DOCUMENT_URI": path, Request.identityParam: "erin@example.com"], body: []))
            #expect(response.status == status)
            #expect(try JSON.parse(response.body)["code"] == "banned")
        }
    }

    @Test func theRoutersClockDecidesExpiry() throws {
        let generated = router.respond(
            to: Request(
                params: [
                    "REQUEST_METHOD": "POST", "DOCUMENT_URI": "/api/token/generate", "CONTENT_TYPE": "application/json",
                    Request.identityParam: "fay@example.com",
                ],
                body: Array(#"{"expires_in":3600}"#.utf8)))
        let token = try #require(try JSON.parse(generated.body)["token"]?.stringValue)
        let check = Request(
            params: [
                "DOCUMENT_URI": "/v1/models", "REQUEST_URI": "/v1/models", "GATEWAY_CHECK": "jwt",
                "HTTP_AUTHORIZATION": "Bearer \(token)",
            ], body: [])
        #expect(router.respond(to: check).status == 200)
        let later = Router(config: config, logger: Logger(label: "test"), clock: Clock(fixedUnixSeconds: Clock.system.unixSeconds() + 7200))
        let refused = later.respond(to: check)
        #expect(refused.status == 401)
        #expect(try JSON.parse(refused.body)["error"]?["code"] == "token_expired")
    }
}
