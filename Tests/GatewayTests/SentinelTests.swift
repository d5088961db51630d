import FCGIRuntime
import Glibc
import Logging
import Testing

@testable import GatewayCore
@testable import Handlers

/// Sentinel settings and confirmed writes (`WAIT`). The failover itself, with real master,
/// replica and sentinel processes, is tested end to end in Tests/e2e/test_ha.py.
struct SentinelTests {
    static let base = ["JWT_SECRET": "handler-test-secret-0123456789abcdef", "LITELLM_SHARED_KEY": "a", "LITELLM_MASTER_KEY": "b"]

    func config(_ settings: [String: String]) throws -> Config {
        try Config(environment: SentinelTests.base.merging(settings) { $1 })
    }

    @Test func singleNodeByDefaultWithoutWait() throws {
        let redis = try config([:]).redis
        #expect(redis.sentinel == nil)
        #expect(redis.waitReplicas == 0)
        // A master name alone (compose fills one in) keeps the single node.
        #expect(try config(["REDIS_SENTINEL_MASTER": "gateway"]).redis.sentinel == nil)
    }

    @Test func sentinelListMasterPasswordAndWaitDefaults() throws {
        let redis = try config([
            "REDIS_SENTINELS": "10.0.0.1:26379, [::1]:26380,/run/sentinel.sock", "REDIS_SENTINEL_MASTER": "gw",
            "REDIS_SENTINEL_PASSWORD": "s3cret",
        ]).redis
        let sentinel = try #require(redis.sentinel)
        #expect(sentinel.sentinels.map(\.description) == ["10.0.0.1:26379", "::1:26380", "/run/sentinel.sock"])
        #expect(sentinel.masterName == "gw")
        #expect(sentinel.password == "s3cret")
        #expect(redis.waitReplicas == 1)  // on by default with Sentinel
        #expect(redis.waitTimeoutMS == 500)
        let off = try config(["REDIS_SENTINELS": "h:1", "REDIS_SENTINEL_MASTER": "gw", "REDIS_WAIT_REPLICAS": "0"]).redis
        #expect(off.waitReplicas == 0)
    }

    @Test(arguments: [
        (
            ["REDIS_SENTINELS": "host-without-port", "REDIS_SENTINEL_MASTER": "gw"],
            ConfigError.invalid(
                "REDIS_SENTINELS", "must be a comma list of host:port, got \"host-without-port\"")
        ),
        (
            ["REDIS_SENTINELS": "h:70000", "REDIS_SENTINEL_MASTER": "gw"],
            ConfigError.invalid(
                "REDIS_SENTINELS", "must be a comma list of host:port, got \"h:70000\"")
        ),
        (
            ["REDIS_SENTINELS": ":26379", "REDIS_SENTINEL_MASTER": "gw"],
            ConfigError.invalid(
                "REDIS_SENTINELS", "must be a comma list of host:port, got \":26379\"")
        ),
        (["REDIS_SENTINELS": " , ", "REDIS_SENTINEL_MASTER": "gw"], ConfigError.invalid("REDIS_SENTINELS", "names no sentinel")),
        (["REDIS_SENTINELS": "h:1"], ConfigError.missing("REDIS_SENTINEL_MASTER")),
        (
            ["REDIS_WAIT_REPLICAS": "1", "REDIS_WAIT_TIMEOUT_MS": "1000"],
            ConfigError.invalid(
                "REDIS_WAIT_TIMEOUT_MS", "must be below REDIS_TIMEOUT_MS (1000)")
        ),
    ])
    func badSentinelSettingsStopTheWorker(settings: [String: String], expected: ConfigError) {
        #expect(throws: expected) { try config(settings) }
    }

    @Test func unreachableSentinelsFailFastWithoutNamingAddresses() throws {
        var options = RedisOptions()
        options.sentinel = SentinelSettings(
            sentinels: [.init(host: "127.0.0.1", port: 1), .init(host: "127.0.0.1", port: 2)], masterName: "gw")
        let client = RedisClient(options: options)
        let started = Clock.system.monotonicMilliseconds()
        #expect {
            try client.command("PING")
        } throws: { error in
            guard case RedisError.connect(let reason) = error else { return false }
            return reason.contains("none of the 2 sentinels named the master") && !reason.contains("127.0.0.1")
        }
        #expect(Clock.system.monotonicMilliseconds() - started < 500)
    }

    @Test func aConfirmedWriteWithoutAReplicaIsNotReplicatedButUnconfirmedWritesAreUnchanged() throws {
        let redis = try RedisServer()
        var options = redis.options
        options.waitReplicas = 1
        options.waitTimeoutMS = 50
        let client = RedisClient(options: options)
        #expect(throws: RedisError.notReplicated(acknowledged: 0, wanted: 1)) {
            try client.transaction([["SET", "revoked:token:x", "1"]], confirmed: true)
        }
        // The write happened on the master: it is only not reported as durable.
        #expect(try client.command("GET", "revoked:token:x") == .string("1"))
        #expect(try client.transaction([["SET", "k", "v"]]) == [.status("OK")])
        #expect(throws: RedisError.notReplicated(acknowledged: 0, wanted: 1)) {
            try client.eval(RedisScript("return redis.call('DEL', KEYS[1])"), keys: ["k"], arguments: [], confirmed: true)
        }
        options.waitReplicas = 0
        #expect(try RedisClient(options: options).confirmedPipeline([["SET", "k", "w"]]) == [.status("OK")])
    }

    @Test func aRevocationNoReplicaConfirmedIsA503WithItsOwnCode() throws {
        let (redis, _, router, client) = try TestGateway.start(["REDIS_WAIT_REPLICAS": "1", "REDIS_WAIT_TIMEOUT_MS": "50"])
        let info = #"{"token_id":"t1","user_email":"a@example.com","token_name":"x","created_at":1,"expires_at":4102444800}"#
        _ = try client.pipeline([["SET", "token:info:t1", info], ["SADD", "user:tokens:a@example.com", "t1"]])
        let response = router.respond(
            to: Request(
                params: [
                    "REQUEST_METHOD": "POST", "DOCUMENT_URI": "/api/token/revoke", Request.identityParam: "a@example.com",
                    "CONTENT_TYPE": "application/json",
                ], body: Array(#"{"token_id":"t1"}"#.utf8)))
        #expect(response.status == 503)
        let body = try JSON.parse(response.body)
        #expect(body["code"] == .string("redis_not_replicated"))
        let generate = router.respond(
            to: Request(
                params: [
                    "REQUEST_METHOD": "POST", "DOCUMENT_URI": "/api/token/generate", Request.identityParam: "a@example.com",
                    "CONTENT_TYPE": "application/json",
                ], body: Array("{}".utf8)))
        #expect(generate.status == 503)
        #expect(try JSON.parse(generate.body)["code"] == .string("redis_not_replicated"))
        #expect(!String(decoding: generate.body, as: UTF8.self).contains("eyJ"))  // never a token
        redis.stop()
    }
}
