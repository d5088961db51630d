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
            throw .badRequest("limit must be a whole number from 1 to \(maxLimit)", code: .invalidLimit)
        }
        return value
    }
}

extension Audit {
    /// The `cursor` of the audit list: a stream entry id `<ms>-<seq>` as returned in
    /// `next_cursor` (two decimal numbers that fit 64 bits); anything else is 400, never a
    /// Redis error.
    static func streamCursor(_ request: Request) throws(APIError) -> String? {
        guard let text = request.queryValue("cursor"), !text.isEmpty else { return nil }
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        let valid =
            parts.count == 2
            && parts.allSatisfy { part in
                part.utf8.count <= 20 && part.utf8.allSatisfy { $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }
                    && UInt64(part) != nil
            }
        guard valid else { throw .badRequest("cursor must be a value returned as next_cursor", code: .invalidCursor) }
        return text
    }
}
