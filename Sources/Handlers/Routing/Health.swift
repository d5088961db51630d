import FCGIRuntime
import GatewayCore

/// `GET /health`: the worker answers (no Redis: nginx and the orchestrator ask often).
enum Health {
    static func get(_ request: Request, _ context: Context) throws -> Response {
        .json(200, #"{"status":"healthy"}"#)
    }
}
