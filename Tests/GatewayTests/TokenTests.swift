import FCGIRuntime
import Logging
import Testing

@testable import GatewayCore
@testable import Handlers

/// The token lifecycle handlers through the Router against a real redis-server.
struct TokenTests {
    let redis: RedisServer
    let client: RedisClient

    init() throws {
        redis = try RedisServer()
        client = RedisClient(options: redis.options)
    }

    func router(_ extra: [String: String] = [:]) throws -> Router {
        let environment = [
            "JWT_SECRET": "token-test-secret-0123456789abcdef", "LITELLM_SHARED_KEY": "sk-shared", "LITELLM_MASTER_KEY": "sk-master",
            "SUPER_ADMIN_EMAIL": "root@example.com",
        ].merging(redis.environment) { $1 }.merging(extra) { $1 }
        return Router(config: try Config(environment: environment), logger: Logger(label: "test"))
    }

    func get(_ router: Router, _ uri: String, as email: String) throws -> (Int, JSON) {
        let parts = uri.split(separator: "?", maxSplits: 1)
        let response = router.respond(
            to: Request(
                params: [
                    "REQUEST_METHOD": "GET", "DOCUMENT_URI": String(parts[0]), "QUERY_STRING": parts.count > 1 ? String(parts[1]) : "",
                    Request.identityParam: email,
                ], body: []))
        return (response.status, try JSON.parse(response.body))
    }

    /// Made by PyJWT 2.15.1: `jwt.encode(claims, "token-test-secret-0123456789abcdef", "HS256",
    /// headers={"typ": "JWT"})` with the gateway's claims (docs/api.md) and the Lua deployment's issuer
    /// `litellm.nakacya.jp` (exp 4102444800).
    static let legacyToken =
        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJqdGkiOiIwYjhmNmQwZS0zYzFhLTRiOGUtOWE1MS0yZjZmM2M5ZDdlMTAiLCJ1c2VyX2VtYWlsIjoibGVnYWN5QGV4YW1wbGUuY29tIiwidXNlcl9pZCI6ImxlZ2FjeUBleGFtcGxlLmNvbSIsInRva2VuX25hbWUiOiJsdWEtZXJhIiwic2NvcGVzIjpbImFwaTpyZWFkIiwiYXBpOndyaXRlIl0sImlhdCI6MTcwMDAwMDAwMCwibmJmIjoxNzAwMDAwMDAwLCJleHAiOjQxMDI0NDQ4MDAsImlzcyI6ImxpdGVsbG0ubmFrYWN5YS5qcCIsImF1ZCI6ImxpdGVsbG0tYXBpIn0.T-jyUhp9TrHkLn1COv64ylX4rNh0gjd5Ml1toPpjvqY"

    @Test func legacyIssuerPassesOnlyWhenAccepted() throws {
        func check(_ router: Router) -> Response {
            router.respond(
                to: Request(
                    params: [
                        "REQUEST_METHOD": "POST", "DOCUMENT_URI": "/v1/chat/completions", "REQUEST_URI": "/v1/chat/completions",
                        "GATEWAY_CHECK": "jwt",
                        "HTTP_AUTHORIZATION": "Bearer \(TokenTests.legacyToken)",
                    ], body: []))
        }
        let refused = check(try router())
        #expect(refused.status == 401)
        #expect(try JSON.parse(refused.body)["error"]?["code"] == "token_claim")
        #expect(check(try router(["JWT_ACCEPTED_ISSUERS": "litellm.nakacya.jp"])).status == 200)
    }

    @Test func luaEraTokensAreIndexedByTheCleanupThenPagedExactly() throws {
        let total = 1500
        var commands: [[String]] = []
        var expected = Set<String>()
        for index in 0..<total {
            let id = "00000000-0000-4000-8000-\(String(100_000_000_000 + index).suffix(12))"
            expected.insert(id)
            let email = "user\(index % 150)@example.com"
            commands.append([
                "SET", "token:info:\(id)",
                #"{"token_id":"\#(id)","user_email":"\#(email)","token_name":"t","scopes":["api:read"],"created_at":\#(index % 7),"expires_at":4102444800}"#,
            ])
            commands.append(["SADD", "user:tokens:\(email)", id])
        }
        _ = try client.pipeline(commands)
        let router = try router()
        // Written the Lua gateway's way: not in the gateway's indexes until an index pass.
        #expect(try get(router, "/api/admin/tokens?limit=100", as: "root@example.com").1["tokens"]?.arrayValue?.count == 0)
        let config = try Config(
            environment: [
                "JWT_SECRET": "token-test-secret-0123456789abcdef", "LITELLM_SHARED_KEY": "sk-shared", "LITELLM_MASTER_KEY": "sk-master",
            ].merging(redis.environment) { $1 })
        // A worker's index build (IndexBuild) finds them; the admin list then pages exactly.
        #expect(try IndexBuild.tick(owner: "test", config: config, redis: client, logger: Logger(label: "test"), clock: .system))
        #expect(try client.command("GET", Keyspace.indexVersion) == .string(IndexBuild.version))
        #expect(try get(router, "/api/admin/tokens?limit=1", as: "root@example.com").1["summary"]?["total"] == .int(Int64(total)))

        var seen: [String] = []
        var cursor: String? = nil
        var pages = 0
        repeat {
            let (status, body) = try get(
                router, "/api/admin/tokens?limit=100" + (cursor.map { "&cursor=\($0)" } ?? ""), as: "root@example.com")
            #expect(status == 200)
            let ids = (body["tokens"]?.arrayValue ?? []).compactMap { $0["token_id"]?.stringValue }
            cursor = body["next_cursor"]?.stringValue
            #expect(ids.count == 100)  // exactly the limit, the last page too (1500 = 15 × 100)
            seen += ids
            pages += 1
        } while cursor != nil && pages < 100
        #expect(seen.count == total && Set(seen) == expected)
        #expect(pages == 15)
        let (_, whole) = try get(router, "/api/admin/tokens", as: "root@example.com")
        #expect(whole["summary"]?["total"] == .int(Int64(total)))
        #expect(whole["summary"]?["active"] == .int(Int64(total)))
        #expect(whole["tokens"]?.arrayValue?.count == total)
        #expect(whole["next_cursor"] == .null)
    }

    @Test func revokeClearsALuaEraRecordWithACapitalisedOwner() throws {
        let id = "lua-era-id"
        let info =
            #"{"token_id":"lua-era-id","user_email":"Mixed@Example.com","token_name":"x","scopes":["api:read"],"created_at":1,"expires_at":4102444800}"#
        _ = try client.pipeline([
            ["SET", "token:info:\(id)", info], ["SADD", "user:tokens:Mixed@Example.com", id],
            ["SADD", "user:tokens:mixed@example.com", id],
        ])
        let response = try router().respond(
            to: Request(
                params: [
                    "REQUEST_METHOD": "POST", "DOCUMENT_URI": "/api/token/revoke", Request.identityParam: "mixed@example.com",
                    "CONTENT_TYPE": "application/json",
                ], body: Array(#"{"token_id":"lua-era-id"}"#.utf8)))
        #expect(response.status == 200)
        #expect(try client.command("EXISTS", "token:info:\(id)") == .integer(0))
        #expect(try client.command("SCARD", "user:tokens:Mixed@Example.com") == .integer(0))
        #expect(try client.command("SCARD", "user:tokens:mixed@example.com") == .integer(0))
        #expect(try client.command("GET", "revoked:token:\(id)") == .string("1"))
    }
}
