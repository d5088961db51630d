import FCGIRuntime
import GatewayCore

/// One page of a SCAN-family iteration (`SCAN`, `SSCAN key`): the `limit`/`cursor` paging of
/// the admin lists. A page ends on a SCAN batch boundary, so it holds at least `limit` items
/// unless it is the last one, and a little more when a batch overshoots; nothing is skipped
/// and no call costs more than the page (SCAN's guarantee: an item present during the whole
/// iteration is returned at least once).
struct ScanPage {
    let items: [String]
    /// nil at the end of the iteration.
    let nextCursor: String?

    /// The `cursor` query parameter: a SCAN cursor (decimal) as returned in `next_cursor`.
    static func cursor(_ request: Request) throws(APIError) -> String? {
        guard let text = request.queryValue("cursor"), !text.isEmpty else { return nil }
        guard text.utf8.count <= 20, text.allSatisfy(\.isASCII), text.allSatisfy(\.isNumber), UInt64(text) != nil else {
            throw .badRequest("cursor must be a value returned as next_cursor", code: "invalid_cursor")
        }
        return text
    }

    /// The page the request asks for (`limit`, `cursor`); without `limit`, the whole iteration.
    static func read(_ request: Request, command: [String], match: String?, redis: RedisClient) throws -> ScanPage {
        let limit = try Paging.limit(request)
        let start = try cursor(request)
        guard let limit else { return ScanPage(items: try redis.scanAll(command, match: match), nextCursor: nil) }
        return try fetch(command, match: match, cursor: start ?? "0", limit: limit, redis: redis)
    }

    static func fetch(_ command: [String], match: String?, cursor start: String, limit: Int, redis: RedisClient) throws(RedisError)
        -> ScanPage
    {
        var cursor = start
        var seen = Set<String>()
        var items: [String] = []
        repeat {
            let batch = try redis.scan(command, cursor: cursor, match: match, count: max(limit - items.count, limit / 4, 10))
            cursor = batch.cursor
            for item in batch.items where seen.insert(item).inserted { items.append(item) }
        } while cursor != "0" && items.count < limit
        return ScanPage(items: items, nextCursor: cursor == "0" ? nil : cursor)
    }
}
