import Logging
import Testing

@testable import GatewayCore
@testable import Handlers

/// SPEC 7.3: things the Lua gateway had built in that must not exist here.
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

    /// The Lua gateway's /debug-headers printed the admin settings.
    @Test func noDebugHeadersRoute() {
        #expect(!Routes.endpoints.contains { $0.path.contains("debug") })
    }
}
