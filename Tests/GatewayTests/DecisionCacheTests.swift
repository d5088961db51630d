import FCGIRuntime
import Testing

@testable import GatewayCore
@testable import Handlers

/// V1_DECISION_CACHE_MS: the X-Accel-Expires an allow carries, and the setting's bounds.
struct DecisionCacheTests {
    /// (now in unix ms, window ms, header): nginx serves `@T` until the wall clock reaches T + 1 s,
    /// so T + 1 s must never lie after now + window.
    static let cases: [(Int64, Int64, String?)] = [
        (1_000_000_000, 0, nil),  // off
        (1_000_000_000, 1000, "@1000000"),  // at .000: this whole second, ending exactly at now + 1000 ms
        (1_000_000_001, 1000, "@1000000"),  // cached for the 999 ms left of this second
        (1_000_000_999, 1000, "@1000000"),
        (1_000_000_500, 499, nil),  // the window ends before this second does
        (1_000_000_500, 500, "@1000000"),
        (1_000_000_900, 100, "@1000000"),
        (1_000_000_899, 100, nil),
        (1_000_000_500, 5000, "@1000000"),  // never more than 1000 ms, whatever is passed
    ]

    @Test(arguments: cases)
    func expiresHeaderNeverOutlivesTheWindow(now: Int64, window: Int64, expected: String?) {
        let header = DecisionCache.expiresHeader(nowMS: now, windowMS: window)
        #expect(header == expected)
        if let header, let seconds = Int64(header.dropFirst()) {
            #expect((seconds + 1) * 1000 <= now + min(window, DecisionCache.maximumMS))
            #expect(seconds >= now / 1000)
        }
    }

    @Test func everyMillisecondOfASecondStaysInsideTheWindow() {
        for window in [1, 100, 250, 999, 1000] as [Int64] {
            for now in 1_700_000_000_000...1_700_000_001_000 as ClosedRange<Int64> {
                guard let header = DecisionCache.expiresHeader(nowMS: now, windowMS: window) else { continue }
                let last = (Int64(header.dropFirst()) ?? 0) + 1
                #expect(last * 1000 <= now + window && last * 1000 > now)
            }
        }
    }

    let base = ["JWT_SECRET": String(repeating: "s", count: 32), "LITELLM_SHARED_KEY": "a", "LITELLM_MASTER_KEY": "b"]

    @Test func settingIsOffByDefaultAndAtMostOneSecond() throws {
        #expect(try Config(environment: base).v1DecisionCacheMS == 0)
        #expect(try Config(environment: base.merging(["V1_DECISION_CACHE_MS": "1000"]) { $1 }).v1DecisionCacheMS == 1000)
        for bad in ["1001", "-1", "1s", "5000"] {
            #expect(throws: ConfigError.self) { try Config(environment: base.merging(["V1_DECISION_CACHE_MS": bad]) { $1 }) }
        }
        do {
            _ = try Config(environment: base.merging(["V1_DECISION_CACHE_MS": "1001"]) { $1 })
        } catch {
            #expect(error.description.contains("V1_DECISION_CACHE_MS must be between 0 (off) and 1000 milliseconds"))
        }
    }

    /// The worker's side: an allow carries `X-Accel-Expires` only with the setting on; a refusal
    /// (revoked, banned, bad token) never does, so nginx never stores one.
    @Test func onlyAnAllowWithTheSettingOnCarriesAnExpiry() throws {
        for (setting, expectHeader) in [("0", false), ("1000", true)] {
            let (redis, _, router, client) = try TestGateway.start(["V1_DECISION_CACHE_MS": setting])
            defer { redis.stop() }
            let generated = router.respond(
                to: Request(
                    params: [
                        "REQUEST_METHOD": "POST", "DOCUMENT_URI": "/api/token/generate", Request.identityParam: "ann@example.com",
                        "CONTENT_TYPE": "application/json",
                    ], body: Array("{}".utf8)))
            let body = try JSON.parse(generated.body)
            let token = try #require(body["token"]?.stringValue)
            let id = try #require(body["token_id"]?.stringValue)
            let allowed = router.checkJWT(token)
            #expect(allowed.status == 200)
            let expires = allowed.headers.first { $0.name == "X-Accel-Expires" }?.value
            #expect((expires != nil) == expectHeader)
            if let expires, let seconds = Int64(expires.dropFirst()) {
                #expect(expires.hasPrefix("@") && seconds >= Clock.system.unixSeconds() - 1)
            }
            _ = try client.command("SET", "active_user_deleted:ann@example.com", "1", "EX", "600")
            _ = try client.command("SET", "revoked:token:\(id)", "1", "EX", "60")
            for refused in [router.checkJWT(token), router.checkJWT("not-a-token")] {
                #expect(refused.status == 401)
                #expect(!refused.headers.contains { $0.name == "X-Accel-Expires" })
            }
        }
    }
}
