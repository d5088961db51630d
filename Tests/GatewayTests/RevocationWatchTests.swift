import Dispatch
import FCGIRuntime
import Glibc
import Logging
import Synchronization
import Testing

@testable import GatewayCore
@testable import Handlers

/// The /v1 check with the revocation watch (the default): tokens checked a moment ago skip
/// Redis, and revocations, bans, flushes and Redis failures still take effect at once.
struct RevocationWatchTests {
    let redis: RedisServer
    let config: Config
    let router: Router
    let client: RedisClient
    let watch: RevocationWatch

    init() throws {
        let (redis, config, _, client) = try TestGateway.start(["REDIS_TIMEOUT_MS": "300", "REDIS_CONNECT_TIMEOUT_MS": "300"])
        let watch = RevocationWatch(options: config.redis, logger: Logger(label: "test"), pingMS: 50)
        watch.start()
        try self.init(redis: redis, config: config, client: client, watch: watch)
        try #require(waitUntil { watch.isLive })
    }

    init(redis: RedisServer, config: Config, client: RedisClient, watch: RevocationWatch) throws {
        (self.redis, self.config, self.client, self.watch) = (redis, config, client, watch)
        router = Router(config: config, logger: Logger(label: "test"), watch: watch)
    }

    func waitUntil(seconds: Double = 3, _ condition: () -> Bool) -> Bool {
        for _ in 0..<Int(seconds * 100) {
            if condition() { return true }
            usleep(10_000)
        }
        return condition()
    }

    func generate(_ email: String) throws -> (token: String, id: String) {
        let response = router.respond(
            to: Request(
                params: ["REQUEST_METHOD": "POST", "DOCUMENT_URI": "/api/token/generate", Request.identityParam: email], body: []))
        let body = try JSON.parse(response.body)
        return (try #require(body["token"]?.stringValue), try #require(body["token_id"]?.stringValue))
    }

    func check(_ token: String) -> Response { router.checkJWT(token) }

    /// Runs a write by another Redis client and waits (at most 2 s) until Redis's message about
    /// it has reached this process's watch, as the gateway's own revokes do before answering.
    func written(_ write: () throws -> Void) throws {
        let before = watch.generationBeforeRead()
        try write()
        watch.awaitChange(from: before, timeoutMS: 2000)
    }

    func code(_ response: Response) -> String? { (try? JSON.parse(response.body))?["error"]?["code"]?.stringValue }

    /// How many revocation reads Redis has served (EXISTS is the /v1 check's revocation read).
    func revocationReads() throws -> Int {
        let info = try client.command("INFO", "commandstats").string ?? ""
        guard let line = info.split(separator: "\r\n").first(where: { $0.hasPrefix("cmdstat_exists:") }),
            let calls = line.split(separator: "=").dropFirst().first?.split(separator: ",").first
        else { return 0 }
        return Int(calls) ?? 0
    }

    @Test func aRepeatedCallSkipsRedisAndARevocationStillCutsItOffAtOnce() throws {
        let (token, id) = try generate("gina@example.com")
        #expect(check(token).status == 200)
        let reads = try revocationReads()
        for _ in 0..<20 { #expect(check(token).status == 200) }
        #expect(try revocationReads() == reads)  // answered from the thread's memory

        // Another gateway instance (any Redis client) revokes: once Redis has sent its message
        // (in the same turn as its answer to the writer), the very next call is refused.
        try written { _ = try client.command("SET", "revoked:token:\(id)", "1", "EX", "60") }
        #expect(code(check(token)) == "token_revoked")
    }

    /// The race the generation exists for, forced: a thread reads the generation, asks Redis
    /// ("allowed"), and only then, before it remembers that answer, another gateway revokes the
    /// token. The answer must be remembered as void: the next call asks Redis and is refused.
    @Test func aRevocationBetweenARedisReadAndItsRememberVoidsTheRememberedAnswer() throws {
        let (token, id) = try generate("nora@example.com")
        let cache = try #require(router.jwtCache)
        var revokedInTheWindow = false
        cache.beforeRemember = {
            try? self.written { _ = try self.client.command("SET", "revoked:token:\(id)", "1", "EX", "60") }
            revokedInTheWindow = true
        }
        #expect(check(token).status == 200)  // Redis said "allowed" before the revocation
        cache.beforeRemember = nil
        #expect(revokedInTheWindow)
        #expect(code(check(token)) == "token_revoked")
    }

    @Test func aBanAndAnAdminRevocationThroughTheGatewayCutOffAtOnce() throws {
        let (token, id) = try generate("hank@example.com")
        #expect(check(token).status == 200)
        try written { _ = try client.command("SET", "active_user_deleted:hank@example.com", "1", "EX", "600") }
        #expect(code(check(token)) == "user_banned")
        _ = try client.command("DEL", "active_user_deleted:hank@example.com")
        #expect(check(token).status == 200)
        #expect(check(token).status == 200)

        // The gateway's own revoke waits until this process's watch saw the change: no pause needed.
        let revoke = router.respond(
            to: Request(
                params: [
                    "REQUEST_METHOD": "POST", "DOCUMENT_URI": "/api/token/revoke", Request.identityParam: "hank@example.com",
                    "GATEWAY_ORIGIN": "http://gw", "HTTP_ORIGIN": "http://gw", "HTTP_SEC_FETCH_SITE": "same-origin",
                    "CONTENT_TYPE": "application/json",
                ],
                body: Array(#"{"token_id":"\#(id)"}"#.utf8)))
        #expect(revoke.status == 200)
        #expect(code(check(token)) == "token_revoked")
    }

    @Test func aFlushForgetsEverything() throws {
        let (token, _) = try generate("ida@example.com")
        #expect(check(token).status == 200)
        #expect(check(token).status == 200)
        let before = watch.generationBeforeRead()
        try written { _ = try client.command("FLUSHALL") }
        #expect(watch.generationBeforeRead() != before)  // every remembered answer is void
        try written { _ = try client.command("SET", "active_user_deleted:ida@example.com", "1", "EX", "600") }
        #expect(code(check(token)) == "user_banned")
    }

    @Test func redisStoppedFailsClosedEvenForATokenJustSeen() throws {
        let (token, _) = try generate("jack@example.com")
        #expect(check(token).status == 200)
        #expect(check(token).status == 200)
        redis.stop()
        #expect(waitUntil { !watch.isLive })
        let down = check(token)
        #expect(down.status == 503)
        #expect(code(down) == "redis_unavailable")
    }

    @Test func aStalledRedisTurnsTheMemoryOffWithinTheLivenessWindow() throws {
        let (token, _) = try generate("kate@example.com")
        #expect(check(token).status == 200)
        let paused = Clock.system.monotonicMilliseconds()
        _ = try client.command("CLIENT", "PAUSE", "1500", "ALL")
        #expect(waitUntil { !watch.isLive })
        #expect(Clock.system.monotonicMilliseconds() - paused < 1500)  // off while Redis is still paused
        #expect(check(token).status == 503)  // asks Redis, which does not answer within REDIS_TIMEOUT_MS
        #expect(waitUntil { watch.isLive })
        #expect(check(token).status == 200)
    }
}

struct RevocationWatchConcurrencyTests {
    /// Many request threads find the watch's PING answers waiting and race to read them: none
    /// may block on an emptied socket (which would wait for the command timeout and make the
    /// watch reconnect), and the memory stays usable throughout.
    @Test func threadsRacingForWaitingMessagesNeverBlockOrDropTheWatch() throws {
        let (redis, config, _, _) = try TestGateway.start()
        defer { redis.stop() }
        let watch = RevocationWatch(options: config.redis, logger: Logger(label: "test"), pingMS: 2, livenessMS: 1000)
        watch.start()
        for _ in 0..<300 where !watch.isLive { usleep(10_000) }
        let before = try #require(watch.generationBeforeRead())
        let slowest = Mutex<Int64>(0)
        DispatchQueue.concurrentPerform(iterations: 8) { _ in
            let end = Clock.system.monotonicMilliseconds() + 1500
            var worst: Int64 = 0
            while Clock.system.monotonicMilliseconds() < end {
                let started = Clock.system.monotonicMilliseconds()
                _ = watch.isLive
                worst = max(worst, Clock.system.monotonicMilliseconds() - started)
            }
            slowest.withLock { $0 = max($0, worst) }
        }
        #expect(slowest.withLock { $0 } < 900)  // a blocked read waits REDIS_TIMEOUT_MS (1000 ms)
        #expect(watch.generationBeforeRead() == before)  // never turned off and back on
    }
}

struct RevocationWatchFallbackTests {
    @Test func whenRedisRefusesTrackingTheWatchStaysOffAndEveryCallAsksRedis() throws {
        let (redis, config, _, client) = try TestGateway.start()
        defer { redis.stop() }
        // A server that refuses CLIENT TRACKING (an ACL here; an old Redis alike): never live.
        _ = try client.command("ACL", "SETUSER", "default", "-client")
        let watch = RevocationWatch(options: config.redis, logger: Logger(label: "test"), pingMS: 50)
        watch.start()
        let tests = try RevocationWatchTests(redis: redis, config: config, client: client, watch: watch)
        // Await the refusal itself: Redis logs the denied CLIENT command of the watch's connection.
        #expect(tests.waitUntil { ((try? client.command("ACL", "LOG"))?.array.isEmpty) == false })
        #expect(!watch.isLive)
        let (token, id) = try tests.generate("liam@example.com")
        let reads = try tests.revocationReads()
        for _ in 0..<5 { #expect(tests.check(token).status == 200) }
        #expect(try tests.revocationReads() >= reads + 5)  // (the first call's tracking script reads once more)
        _ = try client.command("SET", "revoked:token:\(id)", "1", "EX", "60")
        #expect(tests.code(tests.check(token)) == "token_revoked")
    }
}
