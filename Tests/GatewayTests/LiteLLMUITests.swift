import FCGIRuntime
import Logging
import Testing

@testable import GatewayCore
@testable import Handlers

/// LiteLLM's admin UI for gateway admins: the UI session cookie holds no master key, and the
/// admin surface refuses cross-site requests whatever the method.
struct LiteLLMUITests {
    let masterKey = "sk-master-unit-test-0123456789"

    func context() throws -> Context {
        let config = try Config(environment: [
            "JWT_SECRET": String(repeating: "s", count: 32), "LITELLM_SHARED_KEY": "a", "LITELLM_MASTER_KEY": masterKey,
        ])
        return Context(
            config: config, redis: RedisClient(options: config.redis), logger: Logger(label: "test"), now: 1_800_000_000, identity: nil)
    }

    func claims(of cookie: String) throws -> JSON {
        let token = try #require(cookie.split(separator: ";").first?.dropFirst("token=".count))
        let payload = try #require(token.split(separator: ".").dropFirst().first)
        return try JSON.parse(try #require(Base64URL.decode(bytes: Array(payload.utf8)[...])))
    }

    @Test func theUICookieNamesTheAdminWithAPlaceholderKeyNeverTheMasterKey() throws {
        let context = try context()
        let cookie = LiteLLMUI.cookie(email: "ada@example.com", secure: true, context: context)
        #expect(!cookie.contains(masterKey))
        #expect(!cookie.contains("HttpOnly"))
        #expect(cookie.hasSuffix("; Path=/ui; Max-Age=28800; SameSite=Strict; Secure"))
        let claims = try claims(of: cookie)
        #expect(claims["key"] == .string(LiteLLMUI.placeholderKey))
        #expect(claims["user_role"] == "proxy_admin")
        #expect(claims["user_email"] == "ada@example.com")
        #expect(claims["exp"] == .int(1_800_000_000 + LiteLLMUI.lifetime))
        // Signed with a key derived from the JWT secret: neither the master key nor the JWT secret.
        let signingKey = LiteLLMUI.signingKey(context.config)
        #expect(signingKey != Array(masterKey.utf8) && signingKey != context.config.jwt.secrets[0])
        #expect(!LiteLLMUI.cookie(email: "ada@example.com", secure: false, context: context).contains("Secure"))
    }

    func request(_ method: String, _ headers: [String: String]) -> Request {
        var params = ["REQUEST_METHOD": method, "DOCUMENT_URI": "/health/services", "GATEWAY_ORIGIN": "http://gw.example.com:8080"]
        for (name, value) in headers { params["HTTP_" + name.uppercased().replacingOccurrences(of: "-", with: "_")] = value }
        return Request(params: params, body: [])
    }

    func refused(_ request: Request, publicURL: String? = nil) -> Bool {
        do {
            try LiteLLMUI.requireSameOrigin(request, publicURL: publicURL)
            return false
        } catch {
            return error.code == "csrf" && error.status == 403
        }
    }

    @Test(arguments: [
        ["Sec-Fetch-Site": "cross-site"], ["Sec-Fetch-Site": "same-site"], ["Referer": "https://evil.example/x"],
        ["Origin": "https://evil.example"], ["Origin": "null"], ["Referer": "not a url"],
        ["Sec-Fetch-Site": "same-origin", "Referer": "http://gw.example.com:8080.evil.example/"],
    ])
    func crossSiteGetsAreRefused(headers: [String: String]) {
        #expect(refused(request("GET", headers)))
        #expect(refused(request("HEAD", headers)))
    }

    @Test func sameOriginAndPlainClientsAreAllowed() {
        #expect(!refused(request("GET", [:])))
        #expect(!refused(request("GET", ["Sec-Fetch-Site": "none"])))
        #expect(!refused(request("GET", ["Sec-Fetch-Site": "same-origin", "Referer": "http://gw.example.com:8080/ui/"])))
        #expect(!refused(request("GET", ["Referer": "https://llm.example.org/ui/"]), publicURL: "https://llm.example.org"))
    }
}
