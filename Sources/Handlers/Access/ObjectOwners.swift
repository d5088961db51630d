import FCGIRuntime
import GatewayCore

/// Stored objects belong to the person who made them (docs/security.md I2). Every /v1 call
/// reaches LiteLLM with the one shared key, so LiteLLM cannot tell whose stored response, file,
/// batch, vector store, assistant, thread, container or fine-tuning job an id names. LiteLLM's
/// gateway callback (deploy/litellm/gateway_isolation.py) records the creator's e-mail under
/// `Keyspace.objectOwner(id)` before the creating call is answered; this check, after the
/// token check, lets only that person reach `/v1/<collection>/<id>[/...]` (stored responses:
/// the callback checks them, see `responses`):
///
/// - any other caller, or an id with no owner record, gets 404 `object_not_found`, the answer
///   of an id that does not exist (no hint that it does);
/// - listing a collection (`GET /v1/files`, ...) is 404 as well: LiteLLM's list holds everyone's
///   objects and cannot be narrowed to one person;
/// - creating (`POST` to the collection) passes.
///
/// Cost: a few byte compares for every other route (chat, completions, messages, embeddings
/// never reach Redis); one `GET` for an object's path. Redis down: 503 (fail closed).
enum ObjectOwners {
    /// Paths whose next segment is an object id owned by one person.
    static let collections: [[UInt8]] = [
        "/v1/files", "/v1/batches", "/v1/fine_tuning/jobs", "/v1/vector_stores", "/v1/assistants", "/v1/threads",
        "/v1/containers",
    ].map { Array($0.utf8) }
    /// Stored responses: LiteLLM hands out their ids encrypted afresh in every answer, so the
    /// path does not tell which response it is; the callback's pre-call hook checks their owner
    /// inside LiteLLM. Here only a listing is refused.
    static let responses = Array("/v1/responses".utf8)
    /// LiteLLM's other list route of vector stores.
    static let listRoutes: [[UInt8]] = [Array("/v1/vector_store/list".utf8)]

    static let notFound = APIError.openAI(
        404, type: "invalid_request_error", code: .objectNotFound, message: "No such object")

    enum Access: Equatable {
        /// Not an object route (the LLM calls), or a creation.
        case none
        /// A read of a whole collection.
        case list
        /// A path under one object.
        case object(id: String)
    }

    static func access(method: String, path: String) -> Access {
        let bytes = path.utf8
        // The hot path: `/v1/c...`, `/v1/e...`, `/v1/m...` leave after one byte compare.
        guard bytes.count > 5, let first = bytes.dropFirst(4).first,
            first == UInt8(ascii: "r") || first == UInt8(ascii: "f") || first == UInt8(ascii: "b")
                || first == UInt8(ascii: "v") || first == UInt8(ascii: "a") || first == UInt8(ascii: "t")
                || first == UInt8(ascii: "c") && bytes.dropFirst(6).first == UInt8(ascii: "n")  // containers, not completions
        else { return .none }
        let listing = method == "GET" || method == "HEAD"
        if listRoutes.contains(where: { bytes.elementsEqual($0) }) { return listing ? .list : .none }
        if bytes.starts(with: responses) {
            let rest = bytes.dropFirst(responses.count)
            return (rest.isEmpty || rest.elementsEqual([UInt8(ascii: "/")])) && listing ? .list : .none
        }
        for prefix in collections where bytes.starts(with: prefix) {
            let rest = bytes.dropFirst(prefix.count)
            guard let slash = rest.first else { return listing ? .list : .none }
            guard slash == UInt8(ascii: "/") else { continue }  // `/v1/filesx`: not this collection
            let id = rest.dropFirst().prefix { $0 != UInt8(ascii: "/") }
            return id.isEmpty ? .list : .object(id: String(decoding: id, as: UTF8.self))
        }
        return .none
    }

    /// Throws 404 unless `email` owns the object the path names (nothing to check otherwise).
    static func check(_ request: Request, email: String, context: Context) throws(APIError) {
        switch access(method: request.method, path: request.path) {
        case .none: return
        case .list: throw notFound
        case .object(let id):
            let owner: String?
            do {
                owner = try context.redis.string("GET", Keyspace.objectOwner(id))
            } catch {
                context.logger.error("redis failure on object owner check", metadata: ["error": "\(error)"])
                throw APIError.openAI(
                    503, type: "service_unavailable", code: .redisUnavailable,
                    message: "Token checks are unavailable; try again shortly")
            }
            guard owner == email else { throw notFound }
        }
    }
}
