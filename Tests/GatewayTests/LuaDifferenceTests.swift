import FCGIRuntime
import Logging
import Testing

@testable import GatewayCore
@testable import Handlers

/// Things the Lua gateway had built in that must not exist here.
struct LuaDifferenceTests {
    let base = ["JWT_SECRET": String(repeating: "s", count: 32), "LITELLM_SHARED_KEY": "a", "LITELLM_MASTER_KEY": "b"]

    /// The Lua admin_manager fell back to a hard-coded super admin when SUPER_ADMIN_EMAIL was unset.
    @Test func noBuiltInSuperAdminWhenNoneIsConfigured() throws {
        let config = try Config(environment: base)
        #expect(config.superAdmin == nil)
        let context = Context(
            config: config, redis: RedisClient(options: config.redis), logger: Logger(label: "test"), now: 0, identity: nil)
        #expect(!Admins.isSuperAdmin("nakacya@gmail.com", context: context))
        #expect(!Admins.isSuperAdmin("", context: context))
    }

    /// The Lua gateway's /debug-headers printed the admin settings. Asked of the Router as a
    /// request (any method, as the super admin), not by searching the table's text; nginx's
    /// side is `test_attacks.py::test_internal_locations_cannot_be_requested`.
    @Test(arguments: ["GET", "POST", "HEAD"])
    func noDebugHeadersRoute(method: String) throws {
        let config = try Config(environment: base.merging(["SUPER_ADMIN_EMAIL": "root@example.com"]) { $1 })
        let router = Router(config: config, logger: Logger(label: "test"))
        for path in ["/debug-headers", "/api/debug-headers", "/debug"] {
            let response = router.respond(
                to: Request(
                    params: ["REQUEST_METHOD": method, "DOCUMENT_URI": path, Request.identityParam: "root@example.com"], body: []))
            #expect(response.status == 404)
            #expect((try? JSON.parse(response.body))?["code"] == "not_found")
            #expect(!String(decoding: response.body, as: UTF8.self).contains("root@example.com"))
        }
    }
}
