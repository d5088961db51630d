/// An error that becomes an HTTP answer: a status, a stable `code`, and a JSON body.
/// `Router` turns it into a response (`response`); handlers only throw it.
public struct APIError: Error, Sendable {
    public let status: Int
    public let code: String
    public let body: JSON

    public init(status: Int, code: String, body: JSON) {
        self.status = status
        self.code = code
        self.body = body
    }

    /// The common shape: `{"error": message, "code": code, ...extra}`.
    public init(_ status: Int, _ code: String, _ message: String, _ extra: [(String, JSON)] = []) {
        self.init(status: status, code: code, body: .object([("error", .string(message)), ("code", .string(code))] + extra))
    }

    /// The OpenAI-style shape LLM clients expect on /v1: `{"error": {"message", "type", "code"}}`.
    public static func openAI(_ status: Int, type: String, code: String, message: String) -> APIError {
        APIError(
            status: status, code: code,
            body: ["error": ["message": .string(message), "type": .string(type), "code": .string(code)]])
    }

    public static func badRequest(_ message: String, code: String = "bad_request") -> APIError {
        APIError(400, code, message)
    }

    public static func notFound(_ message: String) -> APIError { APIError(404, "not_found", message) }

    public static let unauthenticated = APIError(
        401, "unauthenticated", "Authentication required. Please login via OAuth first.")

    /// Redis trouble: 503 naming the cause (the code), never a guess at the answer. Redis's own
    /// error text goes to the worker log only (`Router`), never to a client.
    public static func redis(_ error: RedisError) -> APIError {
        if case .notReplicated = error { return .notReplicated }
        return APIError(503, "redis_unavailable", "Service temporarily unavailable")
    }

    /// A change made on the Redis master that no replica confirmed in time (REDIS_WAIT_REPLICAS):
    /// it is in effect now but could be undone by a failover, so it is not reported as done.
    /// Repeating the request is safe.
    public static let notReplicated = APIError(
        503, "redis_not_replicated",
        "The change was not confirmed by a Redis replica in time and may not be durable; repeat the request")
}
