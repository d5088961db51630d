import FCGIRuntime
import Logging
import Testing

@testable import GatewayCore
@testable import Handlers

/// LiteLLM admin checks, admin management and the Redis cleanup through the Router and the
/// scheduled runner, against a real redis-server.
struct AdminTests {
    let redis: RedisServer
    let config: Config
    let router: Router
    let client: RedisClient

    init() throws {
        (redis, config, router, client) = try TestGateway.start([
            "SUPER_ADMIN_EMAIL": "root@example.com", "ADMIN_EMAILS": "env@example.com", "CLEANUP_INTERVAL_SECONDS": "60",
        ])
    }

    func request(_ method: String, _ path: String, as email: String?, check: String? = nil, body: String = "") -> Response {
        var params = ["REQUEST_METHOD": method, "DOCUMENT_URI": path, "REQUEST_URI": path]
        if let email { params[Request.identityParam] = email }
        if let check { params["GATEWAY_CHECK"] = check }
        params["CONTENT_TYPE"] = "application/json"
        return router.respond(to: Request(params: params, body: Array(body.utf8)))
    }

    func header(_ response: Response, _ name: String) -> String? {
        response.headers.first(where: { $0.name == name })?.value
    }

    func json(_ response: Response) throws -> JSON { try JSON.parse(response.body) }

    @Test func adminCheckForwardsAdminsWithTheMasterKeyAndRefusesOthers() throws {
        let allowed = request("POST", "/team/new", as: "env@example.com", check: "admin")
        #expect(allowed.status == 200)
        #expect(header(allowed, "X-Accel-Redirect") == "@litellm_admin")
        #expect(header(allowed, "X-Gateway-Authorization") == "Bearer sk-master")
        #expect(header(allowed, "X-Gateway-User") == "env@example.com")
        #expect(header(allowed, "X-Gateway-Admin-Action") == "true")

        let refused = request("GET", "/user/info", as: "bob@example.com", check: "admin")
        #expect(refused.status == 403)
        #expect(try json(refused)["code"] == "not_admin")
        #expect(!String(decoding: refused.body, as: UTF8.self).contains("sk-master"))
        #expect(refused.headers.allSatisfy { !$0.value.contains("sk-master") })
        #expect(request("GET", "/user/info", as: nil, check: "admin").status == 401)
    }

    @Test func keyGenerateForwardsAnySignedInUserWithoutTheAdminFlag() throws {
        let allowed = request("POST", "/key/generate", as: "bob@example.com", check: "litellm-user")
        #expect(allowed.status == 200)
        #expect(header(allowed, "X-Gateway-Authorization") == "Bearer sk-master")
        #expect(header(allowed, "X-Gateway-Admin-Action") == nil)
        #expect(request("GET", "/key/generate", as: "bob@example.com", check: "litellm-user").status == 405)
        _ = try client.command("SET", "active_user_deleted:bob@example.com", "1", "EX", "600")
        let banned = request("POST", "/key/generate", as: "bob@example.com", check: "litellm-user")
        #expect(banned.status == 401)
        #expect(header(banned, "X-Accel-Redirect") == nil)
    }

    @Test func removingAnEnvironmentAdminIs403AndAnUnknownOne404() throws {
        let environment = request("DELETE", "/api/admin/manage", as: "root@example.com", body: #"{"email":"ENV@example.com"}"#)
        #expect(environment.status == 403)
        #expect(try json(environment)["code"] == "environment_admin_not_removable")
        #expect(request("DELETE", "/api/admin/manage", as: "root@example.com", body: #"{"email":"x@example.com"}"#).status == 404)
    }

    @Test func scheduledTickRunsAsTheSystemOncePerInterval() throws {
        _ = try client.command("SET", "active_user_metadata:gone@example.com", "{}")
        _ = try client.command("SET", Keyspace.indexBuildLock, "test", "EX", "30")
        #expect(try IndexPass(owner: "test", config: config, redis: client, clock: .system).run(resume: false, building: true))
        let context = Context(config: config, redis: client, logger: Logger(label: "test"), now: Clock.system.unixSeconds(), identity: nil)
        let id = try #require(try CleanupSchedule.tick(interval: 60, context: context))
        #expect(try client.command("EXISTS", "active_user_metadata:gone@example.com") == .integer(0))
        let record = try JSON.parse(try #require(try client.command("GET", "cleanup:log:\(id)").string))
        #expect(record["executed_by"] == "system")
        #expect(record["manual"] == false)
        #expect(record["results"]?["orphaned_metadata_deleted"] == 1)
        // Another process (or this one) within the interval finds the lock taken.
        #expect(try CleanupSchedule.tick(interval: 60, context: context) == nil)
        let ttl = try #require(try client.command("TTL", Keyspace.cleanupLock).integer)
        #expect(ttl > 0 && ttl <= 60)
    }

    @Test func removalLeavesATargetThatCameBackToLife() throws {
        // Due in the index, but between the index pass and the removal the user signed in again.
        _ = try client.command("SET", "active_user_metadata:back@example.com", "{}")
        _ = try client.command("SADD", "active_user:back@example.com", "session")
        _ = try client.command("ZADD", Keyspace.indexActiveUntil, "0", "back@example.com")
        let reply = try client.eval(
            CleanupJob.pruneUsersScript,
            keyList: [
                Keyspace.indexActiveUsers, Keyspace.indexActiveUntil, Keyspace.indexBans, Keyspace.activeUsers,
                "active_user:back@example.com", "active_user_deleted:back@example.com", "active_user_metadata:back@example.com",
            ],
            argumentList: ["0", "1000", "back@example.com"])
        #expect(reply == .array([.integer(0)]))
        #expect(try client.command("EXISTS", "active_user_metadata:back@example.com") == .integer(1))
    }

    @Test func cleanupWithRedisDownIs503() throws {
        redis.stop()
        for (method, path) in [
            ("GET", "/api/admin/redis/cleanup/preview"), ("POST", "/api/admin/redis/cleanup"),
            ("GET", "/api/admin/redis/cleanup/logs"), ("GET", "/api/admin/manage"),
        ] {
            let response = request(method, path, as: "root@example.com")
            #expect(response.status == 503)
            #expect(try json(response)["code"] == "redis_unavailable")
        }
    }

    @Test func cleanupIntervalIsCheckedAtStart() throws {
        let base = ["JWT_SECRET": String(repeating: "s", count: 32), "LITELLM_SHARED_KEY": "a", "LITELLM_MASTER_KEY": "b"]
        #expect(throws: ConfigError.invalid("CLEANUP_INTERVAL_SECONDS", "must be a whole number, got \"soon\"")) {
            try Config(environment: base.merging(["CLEANUP_INTERVAL_SECONDS": "soon"]) { $1 })
        }
        #expect(try Config(environment: base).cleanupInterval == 0)
    }
}
