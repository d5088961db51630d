import FCGIRuntime
import GatewayCore

/// `GATEWAY_CHECK refusal`: a refusal nginx made itself, handed to a worker so that it is answered
/// and counted like the workers' own (`gateway_requests_total{check="refusal",code}`). nginx names
/// the refusal in `GATEWAY_REFUSAL` and never passes the body (openresty/gateway.conf:
/// `/_gateway/too-large` and `@v1_too_large`, a body over `client_max_body_size`;
/// `/_gateway/bad-request`, a target or request nginx could not take, such as `..` above the
/// root or a bad escape); the /v1 413 is
/// OpenAI-shaped (`GATEWAY_REFUSAL_SHAPE openai`). When no worker answers, nginx answers the same
/// JSON from its configuration (uncounted).
enum NginxRefusal {
    static let codeParam = "GATEWAY_REFUSAL"
    static let shapeParam = "GATEWAY_REFUSAL_SHAPE"

    static func answer(_ request: Request, _ context: Context) throws(APIError) -> Response {
        let openAI = request.params[shapeParam] == "openai"
        switch request.params[codeParam].flatMap(ErrorCode.init(rawValue:)) {
        case .requestTooLarge:
            let message = "Request body too large"
            throw openAI
                ? .openAI(413, type: "invalid_request_error", code: .requestTooLarge, message: message)
                : APIError(413, .requestTooLarge, message)
        case .badRequest:
            throw APIError(400, .badRequest, "Bad request")
        default:
            throw APIError(500, .unknownCheck, "Unknown refusal")
        }
    }
}
