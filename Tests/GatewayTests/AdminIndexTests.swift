import FCGIRuntime
import Foundation
import Glibc
import Logging
import Synchronization
import Testing

@testable import GatewayCore
@testable import Handlers

/// The admin indexes (`AdminIndex`) through the Router against a real redis-server: kept by
/// the write paths, read by the admin views with exact pages, pruned and reconciled by the
/// cleanup job (`CleanupJob`), one job at a time.
struct AdminIndexTests {
    let redis: RedisServer
    let config: Config
    let router: Router
    let client: RedisClient
    /// Another Redis client: the "other writer" of the concurrency tests.
    let writer: RedisClient

    init() throws {
        (redis, config, router, client) = try TestGateway.start(["SUPER_ADMIN_EMAIL": "root@example.com", "TRACK_INTERVAL_SECONDS": "0"])
        writer = RedisClient(options: redis.options)
    }

    func call(_ method: String, _ uri: String, as email: String, body: String = "", session: String? = nil) throws -> (Int, JSON) {
        let parts = uri.split(separator: "?", maxSplits: 1)
        var params = [
            "REQUEST_METHOD": method, "DOCUMENT_URI": String(parts[0]), "QUERY_STRING": parts.count > 1 ? String(parts[1]) : "",
            Request.identityParam: email,
        ]
        if !body.isEmpty { params["CONTENT_TYPE"] = "application/json" }
        if let session {
            let cookie = OAuth2Cookie.makeCookieValue(
                sessionID: session, ticketSecret: Array(repeating: 1, count: 16), name: "_oauth2_proxy", secret: Array("unused".utf8),
                now: 1_700_000_000)
            params["HTTP_COOKIE"] = "_oauth2_proxy=\(cookie)"
        }
        let response = router.respond(to: Request(params: params, body: Array(body.utf8)))
        return (response.status, (try? JSON.parse(response.body)) ?? .null)
    }

    func generate(_ email: String, expiresIn: Int = 3600) throws -> String {
        let (status, body) = try call("POST", "/api/token/generate", as: email, body: #"{"token_name":"t","expires_in":\#(expiresIn)}"#)
        #expect(status == 200)
        return try #require(body["token_id"]?.stringValue)
    }

    /// Runs a whole cleanup job on this thread and returns its log record.
    func runJob() throws -> JSON {
        let id = try #require(
            try CleanupJob.start(executedBy: "root@example.com", manual: true, redis: client, now: Clock.system.unixSeconds()))
        return try #require(
            CleanupJob.run(
                id: id, executedBy: "root@example.com", manual: true,
                context: Context(config: config, redis: client, logger: Logger(label: "test"), identity: nil)))
    }

    /// Runs one index pass (a build) on this thread, as a worker's background thread does;
    /// returns how many entries it added.
    @discardableResult
    func indexPass() throws -> Int64 {
        _ = try client.command("SET", Keyspace.indexBuildLock, "test", "EX", "30")
        let pass = IndexPass(owner: "test", config: config, redis: client, clock: .system)
        #expect(try pass.run(resume: false, building: true))
        return pass.added
    }

    static func sessionKey(_ n: Int) -> String { "_oauth2_proxy-" + String(format: "%032x", n) }

    // MARK: paging

    /// A reader pages through the token list with `limit=7` while another client adds and
    /// revokes tokens between its pages: every token present from start to end is shown exactly
    /// once, no token is shown twice, a revoked one is not shown after its revocation, and every
    /// page but the last holds exactly 7.
    @Test func pagesWhileAnotherClientWritesNeitherSkipNorRepeat() throws {
        var present: [String] = []
        for index in 0..<60 {
            present.append(try generate("user\(index % 6)@example.com"))
            _ = try client.command("ZINCRBY", AdminIndex.tokens, String(-index), present[present.count - 1])  // distinct ages
        }
        var removedLater = Set<String>()
        var seen: [String] = []
        var cursor: String?
        var page = 0
        repeat {
            let (status, body) = try call(
                "GET", "/api/admin/tokens?limit=7" + (cursor.map { "&cursor=\($0)" } ?? ""), as: "root@example.com")
            #expect(status == 200)
            let ids = (body["tokens"]?.arrayValue ?? []).compactMap { $0["token_id"]?.stringValue }
            cursor = body["next_cursor"]?.stringValue
            if cursor != nil { #expect(ids.count == 7) }
            #expect(ids.allSatisfy { !removedLater.contains($0) })
            seen += ids
            page += 1
            // The other client: a new token (newest: before the cursor, so not on later pages)
            // and a revocation of one token not yet shown.
            _ = try generate("other\(page)@example.com")
            let unseen = present.filter { !seen.contains($0) && !removedLater.contains($0) }
            if let victim = unseen.last {
                let record = try #require(
                    try TokenStore.find(
                        victim,
                        context: Context(
                            config: config, redis: writer, logger: Logger(label: "t"), now: Clock.system.unixSeconds(), identity: nil)))
                try TokenStore.revoke(
                    [record],
                    context: Context(
                        config: config, redis: writer, logger: Logger(label: "t"), now: Clock.system.unixSeconds(), identity: nil))
                removedLater.insert(victim)
            }
        } while cursor != nil && page < 100
        #expect(Set(seen).count == seen.count)  // nothing repeated
        let throughout = Set(present).subtracting(removedLater)
        #expect(throughout.isSubset(of: Set(seen)))  // nothing present all along skipped
        #expect(Set(seen).isDisjoint(with: removedLater))
    }

    @Test func cursorsAreValidatedAndOnlyOurOwnAreAccepted() throws {
        for bad in ["abc", "12", ".", "x.YQ", "1.***", String(repeating: "1", count: 800) + ".YQ"] {
            for path in ["/api/admin/tokens", "/api/admin/sessions", "/api/admin/sessions/active-users", "/api/admin/tokens/a@example.com"]
            {
                let (status, body) = try call("GET", "\(path)?limit=5&cursor=\(bad)", as: "root@example.com")
                #expect(status == 400 && body["code"] == "invalid_cursor", "\(path) \(bad)")
            }
        }
        // A cursor that does not even decode (bad percent-encoding) is refused before the handler.
        let (status, body) = try call("GET", "/api/admin/tokens?limit=5&cursor=1.%FF", as: "root@example.com")
        #expect(status == 400 && body["code"]?.stringValue != nil)
    }

    // MARK: totals and expiry

    @Test func tokenSummaryCountsTheWholeKeyspaceAndTheCleanupPrunesExpiredIDs() throws {
        let alive = try (0..<5).map { _ in try generate("sum@example.com") }
        let expiring = try generate("sum@example.com")
        let revoked = try generate("sum@example.com")
        _ = try call("POST", "/api/token/revoke", as: "sum@example.com", body: #"{"token_id":"\#(revoked)"}"#)
        // The record of `expiring` reaches its end: Redis drops it (as its TTL would) and its
        // `expires_at` lies in the past.
        _ = try client.command("DEL", "token:info:\(expiring)")
        _ = try client.command("ZADD", AdminIndex.tokenExpiry, String(Clock.system.unixSeconds() - 5), "\(expiring) sum@example.com")
        let (_, list) = try call("GET", "/api/admin/tokens?limit=1", as: "root@example.com")
        #expect(list["summary"] == ["total": 7, "active": 5, "expired": 1, "revoked": 1])
        #expect(list["tokens"]?.arrayValue?.count == 1)
        let (_, mine) = try call("GET", "/api/admin/tokens/sum@example.com?limit=100", as: "root@example.com")
        #expect(Set((mine["tokens"]?.arrayValue ?? []).compactMap { $0["token_id"]?.stringValue }) == Set(alive))

        let record = try runJob()
        #expect(record["results"]?["orphaned_jwt_token_ids_deleted"] == 1)
        #expect(try client.command("SISMEMBER", "user:tokens:sum@example.com", expiring) == .integer(0))
        let (_, after) = try call("GET", "/api/admin/tokens?limit=1", as: "root@example.com")
        #expect(after["summary"] == ["total": 6, "active": 5, "expired": 0, "revoked": 1])
    }

    // MARK: sessions and users

    @Test func sessionViewsFollowTrackingSignOutAndRevokeUser() throws {
        for n in 1...3 {
            _ = try client.command("SET", Self.sessionKey(n), "encrypted", "EX", "600")
            _ = try call("GET", "/api/token/list", as: n == 3 ? "bob@example.com" : "amy@example.com", session: Self.sessionKey(n))
        }
        var (_, stats) = try call("GET", "/api/admin/sessions/stats", as: "root@example.com")
        #expect(stats["total_sessions"] == 3 && stats["user_sessions"] == ["amy@example.com": 2, "bob@example.com": 1])
        // OAuth2 Proxy ends a session (sign-out): the gateway does not see it, the views do.
        _ = try writer.command("DEL", Self.sessionKey(2))
        (_, stats) = try call("GET", "/api/admin/sessions/stats", as: "root@example.com")
        #expect(stats["total_sessions"] == 2 && stats["user_sessions"] == ["amy@example.com": 1, "bob@example.com": 1])
        let (_, page) = try call("GET", "/api/admin/sessions?limit=1", as: "root@example.com")
        #expect(page["sessions"]?.arrayValue?.count == 1)
        let (_, rest) = try call(
            "GET", "/api/admin/sessions?limit=5&cursor=\(page["next_cursor"]?.stringValue ?? "")", as: "root@example.com")
        #expect(rest["sessions"]?.arrayValue?.count == 1 && rest["next_cursor"] == .null)
        #expect(try client.command("ZSCORE", AdminIndex.sessions, Self.sessionKey(2)) == .null)  // the reader dropped it

        var (_, users) = try call("GET", "/api/admin/sessions/active-users?limit=10", as: "root@example.com")
        #expect(users["total"] == 2 && users["banned_count"] == 0)
        let (status, _) = try call(
            "POST", "/api/admin/sessions/revoke-user", as: "root@example.com", body: #"{"user_email":"amy@example.com"}"#)
        #expect(status == 200)
        (_, users) = try call("GET", "/api/admin/sessions/active-users?limit=10", as: "root@example.com")
        #expect(users["total"] == 2 && users["banned_count"] == 1)
        let amy = (users["active_users"]?.arrayValue ?? []).first { $0["email"] == "amy@example.com" }
        #expect(amy?["is_banned"] == true)
        (_, stats) = try call("GET", "/api/admin/sessions/stats", as: "root@example.com")
        #expect(stats["total_sessions"] == 1)
        _ = try call("DELETE", "/api/admin/sessions/unban/amy@example.com", as: "root@example.com")
        (_, users) = try call("GET", "/api/admin/sessions/active-users", as: "root@example.com")
        #expect(users["total"] == 1 && users["banned_count"] == 0)
        #expect((users["active_users"]?.arrayValue ?? []).map { $0["email"] } == ["bob@example.com"])
    }

    @Test func activeUserPagesAreExactAndTheJobDropsExpiredUsers() throws {
        for n in 0..<25 {
            _ = try client.command("SET", Self.sessionKey(100 + n), "encrypted", "EX", "600")
            _ = try call("GET", "/api/token/list", as: "u\(n)@example.com", session: Self.sessionKey(100 + n))
            _ = try client.command("ZADD", AdminIndex.activeUsers, String(1_000 + n), "u\(n)@example.com")  // distinct last access
        }
        var emails: [String] = []
        var cursor: String?
        repeat {
            let (_, body) = try call(
                "GET", "/api/admin/sessions/active-users?limit=10" + (cursor.map { "&cursor=\($0)" } ?? ""), as: "root@example.com")
            let page = (body["active_users"]?.arrayValue ?? []).compactMap { $0["email"]?.stringValue }
            cursor = body["next_cursor"]?.stringValue
            #expect(page.count == (cursor == nil ? 5 : 10))
            emails += page
        } while cursor != nil
        #expect(emails == (0..<25).reversed().map { "u\($0)@example.com" })
        // Two users' active periods end (TTL): the job drops them and their metadata.
        _ = try writer.command("DEL", "active_user:u3@example.com", "active_user:u4@example.com")
        try indexPass()  // finds their metadata without an active-user key: due for the cleanup
        let record = try runJob()
        #expect(record["results"]?["orphaned_metadata_deleted"] == 2)
        let (_, body) = try call("GET", "/api/admin/sessions/active-users?limit=100", as: "root@example.com")
        #expect(body["total"] == 23 && body["active_users"]?.arrayValue?.count == 23)
    }

    // MARK: the job

    /// The preview's counts, each kind.
    static func counts(_ preview: JSON) -> [String: JSON] {
        var result: [String: JSON] = [:]
        if case .object(let fields)? = preview["counts"] { for (key, value) in fields { result[key] = value } }
        return result
    }

    /// Data the Lua gateway wrote during a migration (no index entries) is found by an index
    /// pass: its live data indexed, its leftovers due for the cleanup, which removes them as
    /// the old cleanup did; the preview's counts are the run's.
    @Test func reconcileAdoptsLuaDataAndTheCleanupRemovesItsLeftovers() throws {
        let now = Clock.system.unixSeconds()
        _ = try client.pipeline([
            [
                "SET", "token:info:lua-1",
                #"{"token_id":"lua-1","user_email":"lua@example.com","token_name":"x","created_at":\#(now - 10),"expires_at":\#(now + 900).5}"#,
                "EX", "900",
            ],
            ["SADD", "user:tokens:lua@example.com", "lua-1", "lua-gone"],
            ["SADD", "user:tokens:gone@example.com", "gone-1"],
            ["SET", "revoked:token:lua-r", "1", "EX", "600"],
            ["SADD", "active_user:lua@example.com", "lua-1"], ["EXPIRE", "active_user:lua@example.com", "600"],
            ["SET", "active_user_metadata:lua@example.com", #"{"last_access":\#(now - 3),"auth_method":"jwt"}"#, "EX", "600"],
            ["SET", "active_user_metadata:orphan@example.com", "{}"],
            ["SET", "active_user_deleted:banned@example.com", String(now - 60), "EX", "3600"],
            ["SET", Self.sessionKey(9), "encrypted", "EX", "600"],
            ["SADD", "active_users", "lua@example.com", "stale@example.com"],
            ["SET", "unrelated:key", "x"],
        ])
        #expect(try indexPass() == 5)  // token, revocation, active user, ban, session
        let (_, preview) = try call("GET", "/api/admin/redis/cleanup/preview", as: "root@example.com")
        let record = try runJob()
        let results = try #require(record["results"])
        #expect(results["orphaned_jwt_token_ids_deleted"] == 2 && results["empty_token_sets_deleted"] == 1)
        #expect(results["orphaned_metadata_deleted"] == 1 && results["stale_active_users_removed"] == 1)
        #expect(
            Self.counts(preview)
                == [
                    "orphaned_jwt_token_ids": 2, "empty_token_sets": 1, "orphaned_metadata": 1, "stale_active_users": 1,
                    "stale_sessions": 0,
                    "total": 5,
                ])
        #expect(try client.command("SMEMBERS", "user:tokens:lua@example.com") == .array([.string("lua-1")]))
        #expect(try client.command("EXISTS", "unrelated:key", "active_user_metadata:lua@example.com") == .integer(2))

        let (_, tokens) = try call("GET", "/api/admin/tokens?limit=10", as: "root@example.com")
        #expect((tokens["tokens"]?.arrayValue ?? []).map { $0["token_id"] } == ["lua-1"])
        #expect(tokens["summary"] == ["total": 2, "active": 1, "expired": 0, "revoked": 1])
        let (_, users) = try call("GET", "/api/admin/sessions/active-users?limit=10", as: "root@example.com")
        #expect(
            (users["active_users"]?.arrayValue ?? []).compactMap { $0["email"]?.stringValue } == ["lua@example.com", "banned@example.com"])
        #expect(users["banned_count"] == 1)
        let (_, stats) = try call("GET", "/api/admin/sessions/stats", as: "root@example.com")
        #expect(stats["total_sessions"] == 1 && stats["unattributed_sessions"] == 1)
        // A second run finds nothing more to do.
        #expect(try indexPass() == 0)
        let again = try runJob()
        #expect(again["total_deleted"] == 0)
    }

    @Test func oneJobAtATimeAndCancelStopsItWithALog() throws {
        let first = try #require(
            try CleanupJob.start(executedBy: "a@example.com", manual: true, redis: client, now: Clock.system.unixSeconds()))
        #expect(try CleanupJob.start(executedBy: "b@example.com", manual: true, redis: writer, now: Clock.system.unixSeconds()) == nil)
        let (status, body) = try call("POST", "/api/admin/redis/cleanup", as: "root@example.com")
        #expect(status == 409 && body["code"] == "cleanup_running" && body["job"]?["cleanup_id"] == .string(first))
        let ttl = try #require(try client.command("TTL", CleanupJob.lockKey).integer)
        #expect(ttl > 0 && ttl <= 30)  // a job whose host dies frees the lock

        let (cancelled, _) = try call("POST", "/api/admin/redis/cleanup/cancel", as: "root@example.com")
        #expect(cancelled == 202)
        let record = try #require(
            CleanupJob.run(
                id: first, executedBy: "a@example.com", manual: true,
                context: Context(config: config, redis: client, logger: Logger(label: "test"), identity: nil)))
        #expect(record["cancelled"] == true)
        let (_, job) = try call("GET", "/api/admin/redis/cleanup/job", as: "root@example.com")
        #expect(job["job"]?["state"] == "cancelled" && job["job"]?["log"]?["cleanup_id"] == .string(first))
        #expect(try client.command("EXISTS", CleanupJob.lockKey) == .integer(0))
        let (none, noneBody) = try call("POST", "/api/admin/redis/cleanup/cancel", as: "root@example.com")
        #expect(none == 409 && noneBody["code"] == "no_cleanup_running")
    }

    @Test func aJobThatLostItsLockStopsAndShowsAsFailed() throws {
        let id = try #require(
            try CleanupJob.start(executedBy: "a@example.com", manual: true, redis: client, now: Clock.system.unixSeconds()))
        _ = try writer.command("SET", CleanupJob.lockKey, "someone-else")  // its lock expired and another job took it
        #expect(
            CleanupJob.run(
                id: id, executedBy: "a@example.com", manual: true,
                context: Context(config: config, redis: client, logger: Logger(label: "test"), identity: nil))
                == nil)
        #expect(try client.command("GET", CleanupJob.lockKey) == .string("someone-else"))
        let (_, job) = try call("GET", "/api/admin/redis/cleanup/job", as: "root@example.com")
        #expect(job["job"]?["state"] == "failed")
    }

    @Test func theJobThreadRunsInTheIdleSchedulingClass() throws {
        let result = Mutex<(Bool, Int32)>((false, -1))
        let thread = Thread {
            let changed = CleanupJob.lowerPriority()
            var policy: Int32 = -1
            var parameters = sched_param()
            pthread_getschedparam(pthread_self(), &policy, &parameters)
            result.withLock { $0 = (changed, policy) }
        }
        thread.start()
        for _ in 0..<500 where result.withLock({ $0.1 }) == -1 { usleep(2000) }
        #expect(result.withLock { $0 } == (true, 5))  // SCHED_IDLE
    }

    @Test func theEndpointRunsTheJobInTheBackground() throws {
        let (status, body) = try call("POST", "/api/admin/redis/cleanup", as: "root@example.com")
        #expect(status == 202 && body["state"] == "running")
        let id = try #require(body["cleanup_id"]?.stringValue)
        // The job runs on its own thread: wait for its log (bounded).
        var state: JSON = .null
        for _ in 0..<500 {
            state = try call("GET", "/api/admin/redis/cleanup/job", as: "root@example.com").1["job"] ?? .null
            if state["state"] != "running" { break }
            usleep(10_000)
        }
        #expect(state["state"] == "done" && state["cleanup_id"] == .string(id))
        #expect(state["log"]?["executed_by"] == "root@example.com")
        #expect(try client.command("ZSCORE", Keyspace.cleanupLogs, id) != .null)
    }
}
