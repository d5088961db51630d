/// The /v1 routes a JWT may reach (docs/security.md P1, "Access boundary policy"). Every other
/// /v1 path is refused by the JWT check with 404 `route_not_allowed` before LiteLLM sees it.
///
/// Settings:
/// - `V1_ROUTES`: comma list of route groups (`GroupName.defaults`, ...) and of path patterns
///   starting with `/v1/` (`*` is one path segment, a trailing `/**` any deeper rest), or `all`
///   for every /v1 path (what the Lua gateway forwarded). Default: `default`, the LLM API groups
///   (not `model_info`, which names the deployments' provider URLs: `optInGroups`).
/// - `V1_SHARED_OBJECT_ROUTES` (`off`): `on` adds the groups whose objects all users share
///   through the one LiteLLM identity (files, batches, fine-tuning, vector stores, assistants,
///   threads): any user could list and read another's.
///
/// The patterns are compiled once at start into one byte program; matching walks it and the
/// path's UTF-8 bytes in place (no allocation, no reference counting per request).
public struct V1RouteList: Sendable, Equatable {
    enum Segment: Sendable, Equatable {
        case literal([UInt8])
        /// Exactly one non-empty segment (an id, a model name).
        case one
    }

    /// A parsed pattern (start-up only; `compile` turns the list into the matching program).
    struct Pattern: Sendable, Equatable {
        let segments: [Segment]
        /// `/**` at the end: one or more further bytes after a `/`.
        let anyTail: Bool
    }

    /// The patterns compiled into one byte program (nil: every path, `V1_ROUTES=all`), so a
    /// match reads one buffer without reference counting. Per pattern: its encoded length (2
    /// bytes, big-endian), `anyTail` (0/1), then per segment 0 for `*` or the literal's length
    /// (1...64) followed by its bytes.
    let program: [UInt8]?
    /// The groups and patterns configured, for the start-up log and tests.
    public let names: [String]

    /// Route groups: the paths clients use, as LiteLLM routes them (LiteLLMRoutes in
    /// litellm/proxy/_types.py; every default one is also in its `llm_api_routes`, the
    /// restriction of the shared key, so LiteLLM refuses nothing the gateway lets through).
    public static let groups: [(name: String, shared: Bool, paths: [String])] = [
        ("chat", false, ["/v1/chat/completions"]),
        ("completions", false, ["/v1/completions"]),
        ("embeddings", false, ["/v1/embeddings"]),
        ("messages", false, ["/v1/messages", "/v1/messages/count_tokens"]),
        ("models", false, ["/v1/models"]),
        // Opt-in (`optInGroups`): LiteLLM's deployment list (api_base, provider settings).
        ("model_info", false, ["/v1/model/info"]),
        (
            "responses", false,
            [
                "/v1/responses", "/v1/responses/*", "/v1/responses/*/input_items", "/v1/responses/*/cancel",
            ]
        ),
        ("moderations", false, ["/v1/moderations"]),
        ("audio", false, ["/v1/audio/speech", "/v1/audio/transcriptions"]),
        ("images", false, ["/v1/images/generations", "/v1/images/edits"]),
        ("rerank", false, ["/v1/rerank"]),
        ("files", true, ["/v1/files", "/v1/files/*", "/v1/files/*/content"]),
        ("batches", true, ["/v1/batches", "/v1/batches/*", "/v1/batches/*/cancel"]),
        ("fine_tuning", true, ["/v1/fine_tuning/jobs", "/v1/fine_tuning/jobs/*", "/v1/fine_tuning/jobs/*/cancel"]),
        (
            "vector_stores", true,
            [
                "/v1/vector_stores", "/v1/vector_stores/*", "/v1/vector_stores/*/search", "/v1/vector_stores/*/files",
                "/v1/vector_stores/*/files/*", "/v1/vector_stores/*/files/*/content", "/v1/vector_store/list",
            ]
        ),
        ("assistants", true, ["/v1/assistants", "/v1/assistants/*"]),
        ("threads", true, ["/v1/threads", "/v1/threads/*", "/v1/threads/*/messages", "/v1/threads/*/runs"]),
    ]

    /// Groups neither in `default` nor shared objects: named in `V1_ROUTES` to turn them on.
    /// `model_info`: LiteLLM's `/v1/model/info` lists every deployment with its `api_base`,
    /// provider and settings (the organisation's set-up, not something a caller needs;
    /// `/v1/models` lists the model names).
    public static let optInGroups: Set<String> = ["model_info"]
    public static var defaultGroups: [String] { groups.filter { !$0.shared && !optInGroups.contains($0.name) }.map(\.name) }
    public static var sharedObjectGroups: [String] { groups.filter(\.shared).map(\.name) }

    /// Every /v1 path: the Lua gateway's behaviour.
    public static let all = V1RouteList(program: nil, names: ["all"])

    init(program: [UInt8]?, names: [String]) {
        self.program = program
        self.names = names
    }

    static func compile(_ patterns: [Pattern]) -> [UInt8] {
        var program: [UInt8] = []
        for pattern in patterns {
            var body: [UInt8] = [pattern.anyTail ? 1 : 0]
            for segment in pattern.segments {
                switch segment {
                case .one: body.append(0)
                case .literal(let bytes): body += [UInt8(bytes.count)] + bytes
                }
            }
            program += [UInt8(body.count >> 8), UInt8(body.count & 0xFF)] + body
        }
        return program
    }

    /// Parses `V1_ROUTES` (nil or empty: `default`) and `V1_SHARED_OBJECT_ROUTES`.
    public init(routes: String?, sharedObjects: Bool) throws(ConfigError) {
        let items = (routes ?? "").split(separator: ",").map { String($0).trimmingSpaces() }.filter { !$0.isEmpty }
        if items.map({ $0.lowercased() }) == ["all"] {
            self = .all
            return
        }
        var names: [String] = []
        for item in items.isEmpty ? ["default"] : items {
            switch item.lowercased() {
            case "default": names += V1RouteList.defaultGroups
            case "all": throw .invalid("V1_ROUTES", "\"all\" cannot be combined with other entries")
            default: names.append(item.hasPrefix("/") ? item : item.lowercased())
            }
        }
        if sharedObjects { names += V1RouteList.sharedObjectGroups }
        var unique: [String] = []
        for name in names where !unique.contains(name) { unique.append(name) }
        var patterns: [Pattern] = []
        for name in unique {
            if name.hasPrefix("/") {
                patterns.append(try V1RouteList.pattern(name))
            } else if let group = V1RouteList.groups.first(where: { $0.name == name }) {
                for path in group.paths { patterns.append(try V1RouteList.pattern(path)) }
            } else {
                throw .invalid(
                    "V1_ROUTES",
                    "has unknown route group \"\(name)\"; known: all, default, \(V1RouteList.groups.map(\.name).joined(separator: ", ")), or a path starting with /v1/"
                )
            }
        }
        self.init(program: V1RouteList.compile(patterns), names: unique)
    }

    /// `/v1/a/*/b` or `/v1/a/**`: segments of letters, digits, `_`, `-`, `.` (no dot segments).
    static func pattern(_ text: String) throws(ConfigError) -> Pattern {
        let invalid = ConfigError.invalid(
            "V1_ROUTES",
            "has an invalid path \"\(text)\": expected /v1/ then segments of letters, digits, _ - . or * (one segment), optionally ending in /**"
        )
        guard text.hasPrefix("/v1/") else { throw invalid }
        var parts = text.dropFirst().split(separator: "/", omittingEmptySubsequences: false)
        let anyTail = parts.last == "**"
        if anyTail { parts.removeLast() }
        var segments: [Segment] = []
        for part in parts {
            if part == "*" {
                segments.append(.one)
                continue
            }
            let allowed = part.utf8.allSatisfy { byte in
                switch byte {
                case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                    UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "_"), UInt8(ascii: "-"), UInt8(ascii: "."):
                    true
                default: false
                }
            }
            guard !part.isEmpty, part.utf8.count <= 64, allowed, part != ".", part != ".." else { throw invalid }
            segments.append(.literal(Array(part.utf8)))
        }
        guard segments.count >= 2, segments.count <= 32 else { throw invalid }  // "v1" and at least one more
        return Pattern(segments: segments, anyTail: anyTail)
    }

    /// Whether a JWT may reach `path` (nginx's normalised `$uri`).
    public func allows(_ path: String) -> Bool {
        guard let program else { return true }
        return program.withUnsafeBufferPointer { code in
            path.utf8.withContiguousStorageIfAvailable { V1RouteList.run(code, $0) }
                ?? Array(path.utf8).withUnsafeBufferPointer { V1RouteList.run(code, $0) }
        }
    }

    /// Whether any pattern of `code` matches `path`.
    static func run(_ code: UnsafeBufferPointer<UInt8>, _ path: UnsafeBufferPointer<UInt8>) -> Bool {
        let slash = UInt8(ascii: "/")
        var next = 0
        patterns: while next + 3 <= code.count {
            let end = next + 2 + (Int(code[next]) << 8 | Int(code[next + 1]))
            let anyTail = code[next + 2] == 1
            var pc = next + 3
            next = end
            var index = 0
            while pc < end {
                guard index < path.count, path[index] == slash else { continue patterns }
                index += 1
                let length = Int(code[pc])
                pc += 1
                if length == 0 {  // `*`: one non-empty segment
                    let segmentStart = index
                    while index < path.count, path[index] != slash { index += 1 }
                    guard index > segmentStart else { continue patterns }
                } else {
                    guard path.count - index >= length else { continue patterns }
                    for offset in 0..<length where path[index + offset] != code[pc + offset] { continue patterns }
                    index += length
                    pc += length
                    // The segment must end here: the next byte is a `/` or the end.
                    guard index == path.count || path[index] == slash else { continue patterns }
                }
            }
            if anyTail ? (index + 1 < path.count && path[index] == slash) : index == path.count { return true }
        }
        return false
    }
}
