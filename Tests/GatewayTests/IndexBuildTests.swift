import FCGIRuntime
import Foundation
import Logging
import Testing

@testable import GatewayCore
@testable import Handlers

/// The workers' index build and reconcile (`IndexBuild`, `IndexPass`) against a real
/// redis-server holding data in the Lua gateway's format only.
struct IndexBuildTests {
    let redis: RedisServer
    let config: Config
    let router: Router
    let client: RedisClient
    static let tokens = 600

    init() throws {
        (redis, config, router, client) = try TestGateway.start(["SUPER_ADMIN_EMAIL": "root@example.com"])
        var commands: [[String]] = []
        for index in 0..<Self.tokens {
            let id = "lua-\(index)"
            let email = "user\(index % 20)@example.com"
            commands.append([
                "SET", Keyspace.tokenInfo(id),
                #"{"token_id":"\#(id)","user_email":"\#(email)","token_name":"t","created_at":\#(1000 + index),"expires_at":4102444800}"#,
            ])
            commands.append(["SADD", Keyspace.userTokens(email), id])
        }
        for index in 0..<4000 { commands.append(["SET", "litellm:cache:\(index)", "x"]) }
        _ = try client.pipeline(commands)
    }

    func list() throws -> JSON {
        let params = [
            "REQUEST_METHOD": "GET", "DOCUMENT_URI": "/api/admin/tokens", "QUERY_STRING": "limit=5",
            Request.identityParam: "root@example.com",
        ]
        return try JSON.parse(router.respond(to: Request(params: params, body: [])).body)
    }

    func tick(_ owner: String) throws -> Bool {
        try IndexBuild.tick(owner: owner, config: config, redis: client, logger: Logger(label: "test"), clock: .system)
    }

    /// No version: the answers say `indexing`; one tick builds, the list and summary are whole,
    /// the version is set, and the next tick within the interval does nothing.
    @Test func aMissingVersionBuildsTheIndexesAndTheAnswersShowProgressMeanwhile() throws {
        let before = try list()
        #expect(before["indexing"]?["total"] != nil && before["summary"]?["total"] == 0)
        #expect(try tick("a"))
        let after = try list()
        #expect(after["indexing"] == nil)
        #expect(after["summary"]?["total"] == .int(Int64(Self.tokens)))
        #expect(
            (after["tokens"]?.arrayValue ?? []).compactMap { $0["token_id"]?.stringValue } == (595..<600).reversed().map { "lua-\($0)" })
        #expect(try client.command("GET", Keyspace.indexVersion) == .string(IndexBuild.version))
        #expect(try client.command("HGET", Keyspace.indexBuild, "state") == .string("done"))
        #expect(try tick("b") == false)  // reconcile not due yet
        #expect(try client.command("EXISTS", Keyspace.indexBuildLock) == .integer(0))
    }

    /// A pass whose process died left its cursor: the next one continues from there instead of
    /// starting over (the keys before the cursor wait for the next reconcile pass).
    @Test func aPassThatDiedIsContinuedFromItsStoredCursor() throws {
        let match = IndexPass(owner: "x", config: config, redis: client, clock: .system).match
        let first = try client.scan(["SCAN"], cursor: "0", match: match, count: IndexPass.batch)
        #expect(first.cursor != "0")
        _ = try client.command(
            "HSET", Keyspace.indexBuild, "kind", "build", "state", "running", "cursor", first.cursor, "processed", "1000", "total", "5200")
        #expect(try tick("after-crash"))
        let sets = first.items.filter { $0.hasPrefix(Keyspace.userTokensPrefix) }
        let firstIDs = try sets.flatMap { try client.command("SMEMBERS", $0).strings }
        let indexed = try client.command("ZCARD", Keyspace.indexTokens).integer ?? 0
        #expect(!firstIDs.isEmpty && indexed == Int64(Self.tokens - Set(firstIDs).count))
        for id in firstIDs { #expect(try client.command("ZSCORE", Keyspace.indexTokens, id) == .null) }
        // A held lock keeps another process out.
        _ = try client.command("HSET", Keyspace.indexBuild, "finished_at", "0")
        _ = try client.command("SET", Keyspace.indexBuildLock, "someone", "EX", "30")
        #expect(try tick("other") == false)
        _ = try client.command("DEL", Keyspace.indexBuildLock)
        #expect(try tick("other"))  // the reconcile pass (due: finished long ago) adds the rest
        #expect(try client.command("ZCARD", Keyspace.indexTokens) == .integer(Int64(Self.tokens)))
    }

    /// The Lua gateway's spellings with capitals reach `gw:idx:legacy_keys`, and the admin's
    /// per-person view finds them from it once the indexes are built.
    @Test func legacySpellingsAreIndexedForThePerPersonView() throws {
        _ = try client.pipeline([
            ["SET", Keyspace.tokenInfo("cap-1"), #"{"token_id":"cap-1","user_email":"Alice@Example.com","created_at":5}"#],
            ["SADD", Keyspace.userTokens("Alice@Example.com"), "cap-1"],
        ])
        #expect(try tick("a"))
        #expect(
            try client.command("ZRANGE", Keyspace.indexLegacyKeys, "0", "-1").strings == [
                Keyspace.indexLegacyKeyMember(Keyspace.userTokens("Alice@Example.com"))
            ])
        let params = [
            "REQUEST_METHOD": "GET", "DOCUMENT_URI": "/api/admin/tokens/alice@example.com", "QUERY_STRING": "",
            Request.identityParam: "root@example.com",
        ]
        let body = try JSON.parse(router.respond(to: Request(params: params, body: [])).body)
        #expect((body["tokens"]?.arrayValue ?? []).compactMap { $0["token_id"]?.stringValue } == ["cap-1"])
    }
}
