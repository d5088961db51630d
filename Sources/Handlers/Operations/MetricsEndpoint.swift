import FCGIRuntime
import GatewayCore

/// `GATEWAY_CHECK metrics`: the Prometheus text of every worker process (GatewayMetrics). nginx
/// sets this check only on its internal metrics listener (openresty/metrics.conf, loopback by
/// default), never on the public server, so no client can reach it.
enum MetricsEndpoint {
    static func serve(_ request: Request, _ context: Context) throws -> Response {
        Response(
            status: 200,
            headers: [("Content-Type", "text/plain; version=0.0.4; charset=utf-8"), ("Cache-Control", "no-store")],
            body: Array(GatewayMetrics.shared.exposition().utf8))
    }
}
