import FCGIRuntime
import GatewayCore

/// `GET /health`: 200 only when this worker reaches Redis (one PING), else 503 JSON, so a load
/// balancer or compose health check takes a host out whose workers cannot decide anything.
enum Health {
    static func get(_ request: Request, _ context: Context) throws -> Response {
        do {
            _ = try context.redis.command("PING")
        } catch {
            context.logger.error("health check: redis unreachable", metadata: ["error": "\(error)"])
            return .json(503, #"{"status":"unhealthy","code":"redis_unavailable"}"#)
        }
        return .json(200, #"{"status":"healthy"}"#)
    }
}
