import FCGIRuntime
import GatewayCore

extension Request {
    /// The FastCGI parameter nginx fills from OAuth2 Proxy's `X-Auth-Request-Email`.
    public static let identityParam = "GATEWAY_AUTH_EMAIL"

    /// The body as a JSON object; 400 when it is missing, not JSON, or not an object, 415 when
    /// it is not sent as `application/json`.
    public func jsonObject(allowEmpty: Bool = false) throws(APIError) -> JSON {
        if body.allSatisfy({ $0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 }) {
            if allowEmpty { return .object([]) }
            throw .badRequest("Request body is required", code: .bodyMissing)
        }
        // A JSON API: a body sent as a form or as text (what a cross-site form can send) is refused.
        let mediaType = (params["CONTENT_TYPE"] ?? "").split(separator: ";", maxSplits: 1).first.map {
            String($0).trimmingSpaces().lowercased()
        }
        guard mediaType == "application/json" else {
            throw APIError(415, .unsupportedMediaType, "Request body must be sent as Content-Type: application/json")
        }
        let value: JSON
        do { value = try JSON.parse(body) } catch {
            throw .badRequest("Invalid JSON in request body: \(error.reason) at byte \(error.offset)", code: .invalidJSON)
        }
        guard case .object = value else { throw .badRequest("Request body must be a JSON object", code: .invalidJSON) }
        return value
    }
}
