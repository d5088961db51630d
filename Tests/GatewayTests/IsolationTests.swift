import FCGIRuntime
import GatewayCore
import Testing

@testable import Handlers

/// Per-person objects (`ObjectOwners`) and the /key/generate metadata policy (`KeyMetadata`),
/// without a stack (the e2e side: Tests/e2e/test_isolation.py).
@Suite struct IsolationTests {
    @Test(arguments: [
        ("POST", "/v1/chat/completions", ObjectOwners.Access.none), ("POST", "/v1/completions", .none),
        ("POST", "/v1/embeddings", .none), ("POST", "/v1/messages", .none), ("GET", "/v1/models", .none),
        ("POST", "/v1/audio/speech", .none), ("POST", "/v1/rerank", .none), ("POST", "/v1/responses", .none),
        ("GET", "/v1/responses", .list), ("GET", "/v1/responses/resp_1", .none), ("DELETE", "/v1/responses/resp_1", .none),
        ("GET", "/v1/responses/resp_1/input_items", .none), ("POST", "/v1/responses/resp_1/cancel", .none),
        ("GET", "/v1/responses/", .list), ("GET", "/v1/responsesx", .none),
        ("POST", "/v1/files", .none), ("GET", "/v1/files", .list), ("HEAD", "/v1/files", .list),
        ("GET", "/v1/files/file-1/content", .object(id: "file-1")), ("GET", "/v1/filesx", .none),
        ("POST", "/v1/batches/b1/cancel", .object(id: "b1")), ("GET", "/v1/fine_tuning/jobs", .list),
        ("GET", "/v1/fine_tuning/jobs/ft1", .object(id: "ft1")), ("GET", "/v1/vector_store/list", .list),
        ("POST", "/v1/vector_stores/vs1/files/f1", .object(id: "vs1")), ("GET", "/v1/assistants", .list),
        ("POST", "/v1/threads", .none), ("POST", "/v1/threads/t1/runs", .object(id: "t1")),
        ("GET", "/v1/containers/c1/files", .object(id: "c1")), ("GET", "/v1/containers", .list),
    ])
    func objectRoutes(method: String, path: String, expected: ObjectOwners.Access) {
        #expect(ObjectOwners.access(method: method, path: path) == expected, "\(method) \(path)")
    }

    @Test(arguments: [
        "litellm_disabled_callbacks", "LiteLLM_Foo", "logging", "guardrails", "model_rpm_limit", "model_tpm_limit", "tags",
        "callback_settings", "disable_global_guardrails", "policies", "priority", "enforced_params", "spend_logs_metadata",
        "allowed_passthrough_routes", "_private", "user_api_key_user_id", "max_budget", "team_id", "trace_id", "cache",
    ])
    func settingNamesAreRefusedByName(name: String) {
        for value in [JSON.string("v"), .array([])] {
            do {
                _ = try KeyMetadata.check(.object([("label", "ok"), (name, value)]))
                Issue.record("\(name) passed")
            } catch {
                #expect(error.status == 400 && error.code == "field_not_allowed", "\(name)")
                #expect(error.body["field"] == .string("metadata.\(name)"))
            }
        }
    }

    @Test func plainLabelsPassAndNothingElse() throws {
        let labels = JSON.object([("purpose", "ci"), ("owner-team.label", "x"), ("n", .int(3)), ("on", .bool(true))])
        #expect(try KeyMetadata.check(labels) == labels)
        for bad in [
            JSON.object([("k", .object([]))]), .object([("k", .array([]))]), .object([("9k", "v")]), .object([("k v", "v")]),
            .object([("k", .string(String(repeating: "x", count: 257)))]),
            .object((0...16).map { ("k\($0)", JSON.string("v")) }), .array([]),
        ] {
            #expect(throws: (any Error).self) { try KeyMetadata.check(bad) }
        }
    }
}
