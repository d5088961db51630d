import FCGIRuntime
import Glibc
import Logging
import Testing

@testable import GatewayCore
@testable import Handlers

/// Handlers through the Router against a real redis-server.
struct HandlerTests {
    let redis: RedisServer
    let config: Config
    let router: Router
    let client: RedisClient

    init() throws {
        (redis, config, router, client) = try TestGateway.start(["REDIS_TIMEOUT_MS": "300", "REDIS_CONNECT_TIMEOUT_MS": "300"])
    }

    func generate(_ email: String?, body: String = "{}") -> Response {
        var params = ["REQUEST_METHOD": "POST", "DOCUMENT_URI": "/api/token/generate"]
        if let email { params[Request.identityParam] = email }
        params["CONTENT_TYPE"] = "application/json"
        return router.respond(to: Request(params: params, body: Array(body.utf8)))
    }

    func check(_ token: String) -> Response { router.checkJWT(token) }

    func json(_ response: Response) throws -> JSON { try JSON.parse(response.body) }

    func header(_ response: Response, _ name: String) -> String? {
        response.headers.first(where: { $0.name == name })?.value
    }

    @Test func generatedTokenPassesTheAccessCheckWithTheSharedKey() throws {
        let generated = generate("Carol@Example.com", body: #"{"token_name":"ci","expires_in":120}"#)
        #expect(generated.status == 200)
        let body = try json(generated)
        #expect(body["user_email"] == "carol@example.com")
        let token = try #require(body["token"]?.stringValue)
        let id = try #require(body["token_id"]?.stringValue)
        #expect(try client.command("SISMEMBER", "user:tokens:carol@example.com", id) == .integer(1))
        let ttl = try #require(try client.command("TTL", "token:info:\(id)").integer)
        #expect(ttl > 100 && ttl <= 120)

        let allowed = check(token)
        #expect(allowed.status == 200)
        #expect(header(allowed, "X-Accel-Redirect") == nil)  // nginx proxies the /v1 request itself (auth_request)
        #expect(header(allowed, "X-Gateway-Authorization") == "Bearer sk-shared")
        #expect(header(allowed, "X-Gateway-Email") == "carol@example.com")
        #expect(try JSON.parse(header(allowed, "X-Gateway-Spend-Metadata") ?? "")["token_name"] == "ci")
    }

    @Test func revokedAndBannedAreRefused() throws {
        let body = try json(generate("dave@example.com"))
        let token = try #require(body["token"]?.stringValue)
        let id = try #require(body["token_id"]?.stringValue)
        _ = try client.command("SET", "active_user_deleted:dave@example.com", "1", "EX", "90000")
        let banned = check(token)
        #expect(banned.status == 401)
        #expect(try json(banned)["error"]?["message"] == "User is banned for 1 days 1 hours")
        _ = try client.command("DEL", "active_user_deleted:dave@example.com")
        _ = try client.command("SET", "revoked:token:\(id)", "1", "EX", "60")
        #expect(try json(check(token))["error"]?["code"] == "token_revoked")
    }

    @Test func redisDownFailsClosedAndRecoversWithoutRestart() throws {
        let token = try #require(try json(generate("erin@example.com"))["token"]?.stringValue)
        #expect(check(token).status == 200)
        redis.stop()
        let down = check(token)
        #expect(down.status == 503)
        #expect(try json(down)["error"]?["type"] == "service_unavailable")
        #expect(generate("erin@example.com").status == 503)

        // Redis comes back (empty, as after a restart without persistence): the same Router,
        // i.e. the same worker thread and its client, serves again once the client's reconnect
        // backoff (RedisOptions.reconnectBackoffMS, 200 ms) has passed. No worker restart.
        try redis.start()
        usleep(useconds_t((config.redis.reconnectBackoffMS + 50) * 1000))  // a time rule, not a synchronisation
        #expect(check(token).status == 200)
        #expect(generate("erin@example.com").status == 200)
    }

    @Test func generateWithoutIdentityIs401AndUnknownRoutes404And405() throws {
        #expect(generate(nil).status == 401)
        let missing = router.respond(to: Request(params: ["REQUEST_METHOD": "GET", "DOCUMENT_URI": "/api/nope"], body: []))
        #expect(missing.status == 404)
        let wrongMethod = router.respond(to: Request(params: ["REQUEST_METHOD": "GET", "DOCUMENT_URI": "/api/token/generate"], body: []))
        #expect(wrongMethod.status == 405)
    }

    @Test func trackingCreatesTheActiveUserKeyOnceAndNeverExtendsIt() throws {
        let body = try json(generate("frank@example.com"))
        let token = try #require(body["token"]?.stringValue)
        _ = check(token)
        let first = try #require(try client.command("TTL", "active_user:frank@example.com").integer)
        _ = try client.command("EXPIRE", "active_user:frank@example.com", "500")
        _ = try client.command("DEL", "gw:track:jwt:frank@example.com:\(body["token_id"]?.stringValue ?? "")")
        _ = check(token)
        let second = try #require(try client.command("TTL", "active_user:frank@example.com").integer)
        #expect(first > 86000)
        #expect(second <= 500)
        let metadata = try JSON.parse(try client.command("GET", "active_user_metadata:frank@example.com").string ?? "")
        #expect(metadata["auth_method"] == "jwt")
        #expect(metadata["session_count"] == .int(1))
    }
}

struct ConfigTests {
    let base = ["JWT_SECRET": String(repeating: "s", count: 32), "LITELLM_SHARED_KEY": "a", "LITELLM_MASTER_KEY": "b"]

    @Test func missingOrWeakSecretStopsTheWorker() {
        var environment = base
        environment["JWT_SECRET"] = nil
        #expect(throws: ConfigError.missing("JWT_SECRET")) { try Config(environment: environment) }
        environment["JWT_SECRET"] = "short"
        #expect(throws: ConfigError.self) { try Config(environment: environment) }
        #expect(ConfigError.missing("JWT_SECRET").description == "configuration error: JWT_SECRET is required but not set")
    }

    @Test func listsAreLowercasedAndNumbersChecked() throws {
        var environment = base
        environment["ADMIN_EMAILS"] = " A@x.com, b@y.org ,"
        environment["ADMIN_DOMAINS"] = "@Corp.example"
        environment["SUPER_ADMIN_EMAIL"] = "Root@Example.com"
        let config = try Config(environment: environment)
        #expect(config.adminEmails == ["a@x.com", "b@y.org"])
        #expect(config.adminDomains == ["corp.example"])
        #expect(config.superAdmin == "root@example.com")
        environment["REDIS_PORT"] = "http"
        #expect(throws: ConfigError.self) { try Config(environment: environment) }
    }
}
