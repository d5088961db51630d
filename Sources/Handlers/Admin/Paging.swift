import FCGIRuntime
import GatewayCore

/// `limit` and `cursor` query parameters shared by the admin lists.
public enum Paging {
    public static let maxLimit = 1000

    /// The `limit` parameter: nil when absent (the caller wants the whole list, as before
    /// paging existed), else 1...maxLimit; anything else is 400.
    public static func limit(_ request: Request, default fallback: Int? = nil) throws(APIError) -> Int? {
        guard let text = request.queryValue("limit"), !text.isEmpty else { return fallback }
        guard let value = Int(text), (1...maxLimit).contains(value) else {
            throw .badRequest("limit must be a whole number from 1 to \(maxLimit)", code: "invalid_limit")
        }
        return value
    }
}
