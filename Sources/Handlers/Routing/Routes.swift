import FCGIRuntime
import GatewayCore

/// The whole route table: read this first. `openresty/gateway.conf` sends the same paths here.
///
/// Two kinds of entries:
/// - access checks, named by the `GATEWAY_CHECK` parameter nginx sets (`GatewayCheck`): the worker answers
///   with a denial (JSON) or with `X-Accel-Redirect` to the named location that serves the
///   content (LiteLLM or a static page), plus headers nginx applies there;
/// - API endpoints, matched by method and path, that the worker answers itself.
///
/// What each endpoint takes and answers, with its error codes: docs/api.md.
public enum Routes {
    public static let checks: [GatewayCheck: Route] = [
        // jwt_validator + auth_handler: every /v1 call
        .jwt: Route(access: .public, JWTAccess.check),
        // oauth_check in front of the browser UIs
        .pageUser: Route(access: .browserGuarded, Pages.serve),
        .pageAdmin: Route(access: .admin, Pages.serve),
        .pageSuperAdmin: Route(access: .superAdmin, Pages.serve),
        // admin_check: LiteLLM's own admin surface
        .admin: Route(access: .admin, LiteLLMAdmin.check),
        // LiteLLM's admin UI (/ui): as `admin`, HTML refusals, and LiteLLM's UI session cookie
        .pageLitellmUI: Route(access: .admin, LiteLLMUI.check),
        // key_generate_handler: POST /key/generate by any signed-in user
        .litellmUser: Route(access: .browser, LiteLLMAdmin.keyGenerate),
        // Prometheus metrics: only on nginx's internal metrics listener (docs/operations.md)
        .metrics: Route(access: .public, MetricsEndpoint.serve),
        // a body nginx refused as too large, answered and counted here
        .refusal: Route(access: .public, NginxRefusal.answer),
    ]

    public static let endpoints: [Route] = [
        Route("GET", "/health", access: .public, Health.get),
        // token_generator
        Route("POST", "/api/token/generate", access: .browser, TokenGenerator.generate),
        // token_info, token_list, token_revoke
        Route("GET", "/api/token/info", access: .browser, TokenInfo.get),
        Route("GET", "/api/token/list", access: .browser, TokenList.get),
        Route("POST", "/api/token/revoke", access: .browser, TokenRevoke.post),
        // who the caller is (roles, name, language), for the UIs' navigation
        Route("GET", Me.path, access: .browser, Me.get),
        // "My access": the caller's own sign-in sessions (tokens: the two routes above)
        Route("GET", MyAccess.sessionsPath, access: .browser, MyAccess.list),
        Route("POST", MyAccess.endOthersPath, access: .browser, MyAccess.endOthers),
        Route("DELETE", MyAccess.sessionPrefix, prefix: true, access: .browser, MyAccess.end),
        // token_admin: `{email}` and `{token_id}` told apart by the `@`
        Route("GET", "/api/admin/tokens", access: .admin, TokenAdmin.list),
        Route("POST", "/api/admin/tokens/revoke-user", access: .admin, TokenAdmin.revokeUser),
        Route("GET", TokenAdmin.prefix, prefix: true, access: .admin, TokenAdmin.user),
        Route("DELETE", TokenAdmin.prefix, prefix: true, access: .admin, TokenAdmin.revoke),
        // audit log of admin actions
        Route("GET", "/api/admin/audit", access: .admin, Audit.list),
        // session_admin; unban before the generic {session_key} prefix
        Route("GET", "/api/admin/sessions", access: .admin, SessionAdmin.list),
        Route("GET", "/api/admin/sessions/active-users", access: .admin, SessionAdmin.activeUsers),
        Route("GET", "/api/admin/sessions/stats", access: .admin, SessionAdmin.stats),
        Route("POST", "/api/admin/sessions/revoke-user", access: .admin, SessionAdmin.revokeUser),
        Route("POST", "/api/admin/sessions/cleanup-expired", access: .admin, SessionAdmin.cleanupExpired),
        Route("DELETE", SessionAdmin.unbanPrefix, prefix: true, access: .admin, SessionAdmin.unban),
        Route("DELETE", SessionAdmin.sessionsPrefix, prefix: true, access: .admin, SessionAdmin.deleteSession),
        // admin_manager
        Route("GET", "/api/admin/manage", access: .superAdmin, AdminManager.list),
        Route("POST", "/api/admin/manage", access: .superAdmin, AdminManager.add),
        Route("DELETE", "/api/admin/manage", access: .superAdmin, AdminManager.remove),
        // redis_cleanup; the scheduled run is CleanupSchedule, not a route
        Route("GET", "/api/admin/redis/cleanup/preview", access: .admin, RedisCleanup.preview),
        Route("POST", "/api/admin/redis/cleanup", access: .admin, RedisCleanup.execute),
        Route("GET", "/api/admin/redis/cleanup/logs", access: .admin, RedisCleanup.logs),
        Route("GET", "/api/admin/redis/cleanup/job", access: .admin, RedisCleanup.job),
        Route("POST", "/api/admin/redis/cleanup/cancel", access: .admin, RedisCleanup.cancel),
    ]
}
