import FCGIRuntime
import Logging
import Testing

@testable import GatewayCore
@testable import Handlers

/// The session index kept by the tracker, revoke-user, and JWT_REQUIRE_OAUTH_WITHIN, through
/// the Router against a real redis-server.
struct SessionAdminTests {
    let redis: RedisServer
    let router: Router
    let client: RedisClient
    static let cookieSecret = "cookie-secret-0123456789abcdef0123"

    init() throws {
        (redis, _, router, client) = try TestGateway.start([
            "SUPER_ADMIN_EMAIL": "root@example.com", "OAUTH2_PROXY_COOKIE_SECRET": SessionAdminTests.cookieSecret,
            "JWT_REQUIRE_OAUTH_WITHIN": "90m",
        ])
    }

    /// A browser request as `email` with an OAuth2 Proxy session `id` (whose key is stored, as OAuth2 Proxy does).
    func browser(_ method: String, _ path: String, as email: String, session id: String, body: String = "") throws -> Response {
        _ = try client.command("SET", id, "encrypted", "EX", "600", "NX")
        let cookie = OAuth2Cookie.makeCookieValue(
            sessionID: id, ticketSecret: Array(repeating: 1, count: 16), name: "_oauth2_proxy",
            secret: Array(SessionAdminTests.cookieSecret.utf8), now: 1_700_000_000)
        return router.respond(
            to: Request(
                params: [
                    "REQUEST_METHOD": method, "DOCUMENT_URI": path, Request.identityParam: email,
                    "HTTP_COOKIE": "_oauth2_proxy=\(cookie); _oauth2_proxy=ignored", "CONTENT_TYPE": "application/json",
                ], body: Array(body.utf8)))
    }

    func jwt(_ token: String) -> Response { router.checkJWT(token) }

    static func sessionID(_ n: Int) -> String { "_oauth2_proxy-" + String(repeating: String(n % 10), count: 32) }

    @Test func trackerIndexesTheSessionOwnerAndRevokeUserDeletesEverySession() throws {
        let generated = try browser("POST", "/api/token/generate", as: "Gina@Example.com", session: Self.sessionID(1))
        #expect(generated.status == 200)
        let token = try #require(try JSON.parse(generated.body)["token"]?.stringValue)
        _ = try browser("POST", "/api/token/generate", as: "gina@example.com", session: Self.sessionID(2))
        #expect(try client.command("HGET", "gw:session:\(Self.sessionID(1))", "email") == .string("gina@example.com"))
        let indexTTL = try #require(try client.command("TTL", "gw:session:\(Self.sessionID(1))").integer)
        #expect(indexTTL > 590 && indexTTL <= 600)  // as long as OAuth2 Proxy keeps the session
        #expect(try client.command("SCARD", "gw:user_sessions:gina@example.com") == .integer(2))
        #expect(jwt(token).status == 200)

        let refused = try browser(
            "POST", "/api/admin/sessions/revoke-user", as: "gina@example.com", session: Self.sessionID(3),
            body: #"{"user_email":"hal@example.com"}"#)
        #expect(refused.status == 403)
        let revoked = try browser(
            "POST", "/api/admin/sessions/revoke-user", as: "root@example.com", session: Self.sessionID(4),
            body: #"{"user_email":"GINA@example.com"}"#)
        #expect(revoked.status == 200)
        #expect(try JSON.parse(revoked.body)["deleted_count"] == .int(3))
        #expect(try client.command("EXISTS", Self.sessionID(1), Self.sessionID(2), Self.sessionID(3)) == .integer(0))
        #expect(try client.command("EXISTS", Self.sessionID(4)) == .integer(1))
        #expect(try client.command("EXISTS", "active_user:gina@example.com", "gw:user_sessions:gina@example.com") == .integer(0))
        #expect(try client.command("EXISTS", "gw:session:\(Self.sessionID(1))") == .integer(0))
        #expect(try JSON.parse(jwt(token).body)["error"]?["code"] == "user_banned")
    }

    @Test func jwtNeedsARecentSignInWhenTheWindowIsSet() throws {
        let generated = try browser("POST", "/api/token/generate", as: "ivy@example.com", session: Self.sessionID(5))
        let token = try #require(try JSON.parse(generated.body)["token"]?.stringValue)
        let ttl = try #require(try client.command("TTL", "gw:oauth_seen:ivy@example.com").integer)
        #expect(ttl > 5390 && ttl <= 5400)
        #expect(jwt(token).status == 200)
        _ = try client.command("DEL", "gw:oauth_seen:ivy@example.com")
        let refused = jwt(token)
        #expect(refused.status == 401)
        #expect(try JSON.parse(refused.body)["error"]?["code"] == "oauth_signin_required")
    }

    @Test func durationsAcceptSecondsMinutesHoursAndDays() throws {
        let base = ["JWT_SECRET": String(repeating: "s", count: 32), "LITELLM_SHARED_KEY": "a", "LITELLM_MASTER_KEY": "b"]
        #expect(try Config(environment: base).jwtRequireOAuthWithin == 0)
        for (text, seconds) in [("3600", 3600), ("90m", 5400), ("24h", 86400), ("7d", 604_800), ("45s", 45)] as [(String, Int64)] {
            #expect(try Config(environment: base.merging(["JWT_REQUIRE_OAUTH_WITHIN": text]) { $1 }).jwtRequireOAuthWithin == seconds)
        }
        for bad in ["soon", "-5m", "1.5h", "h", "9999999999d"] {
            #expect(throws: ConfigError.self) { try Config(environment: base.merging(["JWT_REQUIRE_OAUTH_WITHIN": bad]) { $1 }) }
        }
    }

    /// The ban and the session delete name every key in KEYS: what they read first (the user's
    /// sessions, a session's owner) is checked again inside the script, which changes nothing
    /// when it moved in between (a session recorded after the read survives no ban).
    @Test func scriptsThatReadTheirKeysFirstChangeNothingWhenTheReadIsStale() throws {
        let (old, late) = (Self.sessionID(5), Self.sessionID(6))
        _ = try client.command("SET", old, "encrypted")
        _ = try client.command("SET", late, "encrypted")
        _ = try client.command("SADD", "active_user:ivy@example.com", old, late)
        let stale = try client.eval(
            Revocations.banScript,
            keys: [
                "active_user": Keyspace.activeUser("ivy@example.com"), "metadata": Keyspace.activeUserMetadata("ivy@example.com"),
                "ban": Keyspace.ban("ivy@example.com"), "user_sessions": Keyspace.userSessions("ivy@example.com"),
                "oauth_seen": Keyspace.oauthSeen("ivy@example.com"), "idx_sessions": Keyspace.indexSessions,
                "idx_session_expiry": Keyspace.indexSessionExpiry, "idx_session_owner": Keyspace.indexSessionOwner,
                "idx_active_users": Keyspace.indexActiveUsers, "idx_active_until": Keyspace.indexActiveUntil,
                "idx_bans": Keyspace.indexBans,
            ],
            arguments: ["now": "1700000000", "ban_seconds": "60", "session_prefix": "_oauth2_proxy-", "email": "ivy@example.com"],
            moreKeys: [old, Keyspace.sessionOwner(old)])
        #expect(stale == .integer(-1))  // `late` was not read: nothing happened
        #expect(try client.command("EXISTS", old, late, Keyspace.ban("ivy@example.com")) == .integer(2))
        let deleted = try Revocations(redis: client, watch: nil).banAndEndSessions(
            email: "ivy@example.com", now: 1_700_000_000, seconds: 60, sessionKeyPrefix: "_oauth2_proxy-")
        #expect(deleted == 2)
        #expect(try client.command("EXISTS", old, late) == .integer(0))

        let key = Self.sessionID(7)
        _ = try client.command("SET", key, "encrypted")
        _ = try client.command("HSET", Keyspace.sessionOwner(key), "email", "jo@example.com")
        _ = try client.command("SADD", Keyspace.userSessions("jo@example.com"), key)
        let moved = try client.eval(
            SessionAdmin.deleteScript,
            keys: [
                "session": key, "owner": Keyspace.sessionOwner(key), "idx_sessions": AdminIndex.sessions,
                "idx_session_expiry": AdminIndex.sessionExpiry, "idx_session_owner": AdminIndex.sessionOwner,
                "user_sessions": Keyspace.userSessions("kim@example.com"),
            ],
            arguments: ["email": "kim@example.com", "protected_email": ""])
        #expect(moved == .integer(-2))
        #expect(try client.command("EXISTS", key) == .integer(1))
        let response = try browser("DELETE", "/api/admin/sessions/\(key)", as: "root@example.com", session: Self.sessionID(8))
        #expect(response.status == 200)
        #expect(try client.command("EXISTS", key, Keyspace.sessionOwner(key)) == .integer(0))
        #expect(try client.command("SISMEMBER", Keyspace.userSessions("jo@example.com"), key) == .integer(0))
    }
}
