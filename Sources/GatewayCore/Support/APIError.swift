/// Every error answer of the gateway, the FastCGI runtime's (413) and the handlers': an HTTP
/// status, a stable `code`, and a JSON body that carries the code. Handlers throw it; `Router`
/// turns it into a response, the only place that does (`Responder.respond(to:for:)`; the runtime
/// hands its own errors to the same method).
public struct APIError: Error, Sendable {
    public let status: Int
    /// One of the listed codes (`ErrorCode`): no answer carries a code the list does not have.
    public let errorCode: ErrorCode
    public let body: JSON

    public var code: String { errorCode.rawValue }

    /// A body of its own shape; `code` is added to it when it has none (at the top or, in the
    /// OpenAI shape, under `error`), so every error body carries one.
    public init(status: Int, code: ErrorCode, body: JSON) {
        self.status = status
        self.errorCode = code
        if case .object(let fields) = body, body["code"] == nil, body["error"]?["code"] == nil {
            self.body = .object(fields + [("code", .string(code.rawValue))])
        } else {
            self.body = body
        }
    }

    /// The common shape: `{"error": message, "code": code, ...extra}`.
    public init(_ status: Int, _ code: ErrorCode, _ message: String, _ extra: [(String, JSON)] = []) {
        self.init(status: status, code: code, body: .object([("error", .string(message)), ("code", .string(code.rawValue))] + extra))
    }

    /// The OpenAI-style shape LLM clients expect on /v1: `{"error": {"message", "type", "code"}}`.
    public static func openAI(_ status: Int, type: String, code: ErrorCode, message: String) -> APIError {
        APIError(
            status: status, code: code,
            body: ["error": ["message": .string(message), "type": .string(type), "code": .string(code.rawValue)]])
    }

    public static func badRequest(_ message: String, code: ErrorCode = .badRequest) -> APIError {
        APIError(400, code, message)
    }

    public static func notFound(_ message: String) -> APIError { APIError(404, .notFound, message) }

    /// A request body over `MAX_BODY_BYTES`; the runtime answers it without reading the rest.
    public static func bodyTooLarge(maxBytes: Int) -> APIError {
        APIError(413, .bodyTooLarge, "Request body too large", [("max_bytes", .int(Int64(maxBytes)))])
    }

    public static let unauthenticated = APIError(
        401, .unauthenticated, "Authentication required. Please login via OAuth first.")

    /// Redis trouble: 503 naming the cause (the code), never a guess at the answer. Redis's own
    /// error text goes to the worker log only (`Router`), never to a client.
    public static func redis(_ error: RedisError) -> APIError {
        if case .notReplicated = error { return .notReplicated }
        return APIError(503, .redisUnavailable, "Service temporarily unavailable")
    }

    /// A change made on the Redis master that no replica confirmed in time (REDIS_WAIT_REPLICAS):
    /// it is in effect now but could be undone by a failover, so it is not reported as done.
    /// Repeating the request is safe.
    public static let notReplicated = APIError(
        503, .redisNotReplicated,
        "The change was not confirmed by a Redis replica in time and may not be durable; repeat the request")
}
