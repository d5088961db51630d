import FCGIRuntime
import GatewayCore
import Handlers
import Testing

/// The /v1 route allow-list (V1_ROUTES, V1_SHARED_OBJECT_ROUTES) and the /key/generate body
/// allow-list, without a stack (the e2e side: Tests/e2e/test_boundary_policy.py).
@Suite struct V1RoutesTests {
    let base = ["JWT_SECRET": String(repeating: "s", count: 32), "LITELLM_SHARED_KEY": "a", "LITELLM_MASTER_KEY": "b"]

    @Test func defaultsAreTheLLMRoutesOnly() throws {
        let routes = try Config(environment: base).v1Routes
        for path in [
            "/v1/chat/completions", "/v1/completions", "/v1/embeddings", "/v1/messages", "/v1/messages/count_tokens",
            "/v1/models", "/v1/responses", "/v1/responses/resp_1", "/v1/responses/resp_1/input_items",
            "/v1/responses/resp_1/cancel", "/v1/moderations", "/v1/audio/speech", "/v1/audio/transcriptions",
            "/v1/images/generations", "/v1/images/edits", "/v1/rerank",
        ] {
            #expect(routes.allows(path), "\(path)")
        }
        for path in [
            "/v1/files", "/v1/files/f1/content", "/v1/batches", "/v1/fine_tuning/jobs", "/v1/vector_stores", "/v1/assistants",
            "/v1/threads/t1/runs", "/v1/access_group", "/v1/memory", "/v1/models/gpt-4o", "/v1/chat/completions/",
            "/v1/chat/completionsx", "/v1/chat/completions/x", "/v1/chat", "/v1/", "/v1", "", "/", "/v1/responses/",
            "/v1/responses//input_items", "/v1//chat/completions", "/V1/chat/completions", "/v2/chat/completions",
            "/v1/chat/completions\u{0}", "/v1/mcp/tools", "/v1/internal/x", "/v1/model/info",
        ] {
            #expect(!routes.allows(path), "\(path)")
        }
    }

    @Test func modelInfoIsOptIn() throws {
        var environment = base
        environment["V1_ROUTES"] = "default,model_info"
        let routes = try Config(environment: environment).v1Routes
        #expect(routes.allows("/v1/model/info") && routes.allows("/v1/models") && routes.allows("/v1/chat/completions"))
        #expect(!V1RouteList.defaultGroups.contains("model_info"))
    }

    @Test func sharedObjectRoutesAreOneSetting() throws {
        var environment = base
        environment["V1_SHARED_OBJECT_ROUTES"] = "on"
        let routes = try Config(environment: environment).v1Routes
        for path in [
            "/v1/files", "/v1/files/f1/content", "/v1/batches/b1/cancel", "/v1/fine_tuning/jobs/j1", "/v1/vector_stores/v/search",
            "/v1/assistants/a1", "/v1/threads/t1/messages", "/v1/chat/completions",
        ] {
            #expect(routes.allows(path), "\(path)")
        }
        #expect(!routes.allows("/v1/access_group"))
        environment["V1_SHARED_OBJECT_ROUTES"] = "maybe"
        #expect(throws: ConfigError.invalid("V1_SHARED_OBJECT_ROUTES", "must be on or off, got \"maybe\"")) {
            try Config(environment: environment)
        }
    }

    @Test func groupsPatternsAndAll() throws {
        var environment = base
        environment["V1_ROUTES"] = "chat, /v1/ocr, /v1/search/*, /v1/containers/**"
        let routes = try Config(environment: environment).v1Routes
        #expect(routes.names == ["chat", "/v1/ocr", "/v1/search/*", "/v1/containers/**"])
        #expect(routes.allows("/v1/chat/completions") && routes.allows("/v1/ocr") && routes.allows("/v1/search/web"))
        #expect(routes.allows("/v1/containers/c1") && routes.allows("/v1/containers/c1/files/f"))
        #expect(!routes.allows("/v1/containers") && !routes.allows("/v1/containers/") && !routes.allows("/v1/search/a/b"))
        #expect(!routes.allows("/v1/embeddings") && !routes.allows("/v1/search"))
        environment["V1_ROUTES"] = "default,files"
        #expect(try Config(environment: environment).v1Routes.allows("/v1/files/x"))
        environment["V1_ROUTES"] = "ALL"
        let all = try Config(environment: environment).v1Routes
        #expect(all.allows("/v1/anything/at/all") && all == V1RouteList.all)
    }

    @Test func badValuesStopTheWorkerWithOneLine() {
        for bad in ["chatt", "all,chat", "/v2/x", "/v1/", "/v1/a//b", "/v1/../key/info", "/v1/a b", "/v1/%2e", "/v1/**", "/x"] {
            var environment = base
            environment["V1_ROUTES"] = bad
            #expect(throws: ConfigError.self, "\(bad)") { try Config(environment: environment) }
        }
        var environment = base
        environment["V1_ROUTES"] = "chatt"
        do {
            _ = try Config(environment: environment)
        } catch {
            #expect(
                error.description.hasPrefix("configuration error: V1_ROUTES has unknown route group \"chatt\"; known: all, default, chat,"))
            #expect(!error.description.contains("\n"))
        }
    }
}

@Suite(.serialized) struct KeyGenerateBodyTests {
    let redis: RedisServer
    let router: Router

    init() throws {
        let started = try TestGateway.start(["SUPER_ADMIN_EMAIL": "root@example.com"])
        (redis, router) = (started.0, started.2)
    }

    func keyGenerate(_ body: String, contentType: String? = "application/json") -> Response {
        var params = [
            "REQUEST_METHOD": "POST", "DOCUMENT_URI": "/key/generate", "REQUEST_URI": "/key/generate",
            "GATEWAY_CHECK": "litellm-user",
            Request.identityParam: "Bob@Example.com",
        ]
        params["CONTENT_TYPE"] = contentType
        return router.respond(to: Request(params: params, body: Array(body.utf8)))
    }

    func header(_ response: Response, _ name: String) -> String? {
        response.headers.first(where: { $0.name == name })?.value
    }

    @Test func allowedFieldsAreForwardedWithTheCallerAsUser() throws {
        let allowed = keyGenerate(#"{"key_alias":"laptop","models":["gpt-4o-mini"],"duration":"30d","metadata":{"k":"é"}}"#)
        #expect(allowed.status == 200)
        #expect(header(allowed, "X-Accel-Redirect") == "@litellm_key_generate")
        #expect(
            header(allowed, "X-Gateway-Body")
                == #"{"key_alias":"laptop","models":["gpt-4o-mini"],"duration":"30d","metadata":{"k":"\u00e9"},"user_id":"bob@example.com"}"#
        )
        #expect(header(keyGenerate("", contentType: nil), "X-Gateway-Body") == #"{"user_id":"bob@example.com"}"#)
    }

    @Test func anyOtherFieldIsRefusedByName() throws {
        for field in ["user_id", "user_role", "team_id", "organization_id", "key", "allowed_routes", "max_budget", "tpm_limit"] {
            let refused = keyGenerate(#"{"key_alias":"x","\#(field)":"v"}"#)
            #expect(refused.status == 400)
            let body = try JSON.parse(refused.body)
            #expect(body["code"] == "field_not_allowed" && body["field"] == .string(field))
            #expect(header(refused, "X-Accel-Redirect") == nil)
        }
        #expect(keyGenerate(#"{"key_alias":"x"}"#, contentType: "text/plain").status == 415)
        #expect(keyGenerate("nope").status == 400)
        #expect(keyGenerate(#"{"models":[1]}"#).status == 400)
    }
}
