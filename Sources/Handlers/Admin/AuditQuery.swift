import FCGIRuntime
import GatewayCore

/// The filters and export of `GET /api/admin/audit` (docs/api.md): `actor`, `action`, `since`,
/// `until` (unix seconds, inclusive) and `format` (`json` or `csv`, as a download). Each bad
/// value is 400 with its own `code`, never a Redis error.
struct AuditQuery {
    var actor: String?
    var action: String?
    var since: Int64?
    var until: Int64?
    /// nil: the page for the console; "json" or "csv": an export (attachment).
    var format: String?

    static let maxActorLength = 320
    /// Entries an export holds at most (newest first); more is said by `truncated`.
    static let maxExport = 10000
    /// Stream entries one page looks at before answering with what it found and a cursor.
    static let scanBudget = 20000
    static let latestTime: Int64 = 253_402_300_799  // 9999-12-31T23:59:59Z

    init(_ request: Request) throws(APIError) {
        if let text = request.queryValue("actor"), !text.isEmpty {
            guard text.count <= Self.maxActorLength, text.unicodeScalars.allSatisfy({ $0.value >= 0x20 && $0.value != 0x7F }) else {
                throw .badRequest("actor must be an e-mail address or \"system\"", code: .invalidActor)
            }
            actor = text.lowercased()
        }
        if let text = request.queryValue("action"), !text.isEmpty {
            let allowed = text.utf8.allSatisfy { byte in
                (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z")) || (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9"))
                    || byte == UInt8(ascii: "_") || byte == UInt8(ascii: ".")
            }
            guard allowed, text.utf8.count <= 64 else {
                throw .badRequest("action must be an action name such as token.generate", code: .invalidAction)
            }
            action = text
        }
        since = try Self.time(request, "since")
        until = try Self.time(request, "until")
        if let since, let until, since > until {
            throw .badRequest("since must not be after until", code: .invalidTimeRange)
        }
        if let text = request.queryValue("format"), !text.isEmpty {
            guard text == "json" || text == "csv" else { throw .badRequest("format must be json or csv", code: .invalidFormat) }
            format = text
        }
    }

    private static func time(_ request: Request, _ name: String) throws(APIError) -> Int64? {
        guard let text = request.queryValue(name), !text.isEmpty else { return nil }
        guard text.utf8.count <= 12, text.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }),
            let value = Int64(text), value <= latestTime
        else { throw .badRequest("\(name) must be a unix time in seconds", code: .invalidTime) }
        return value
    }

    var filtered: Bool { actor != nil || action != nil || since != nil || until != nil }

    func matches(_ fields: [(String, JSON)]) -> Bool {
        for (key, value) in fields {
            if key == "actor", let actor, value.stringValue?.lowercased() != actor { return false }
            if key == "action", let action, value.stringValue != action { return false }
        }
        return true
    }

    /// The newest stream id the page may return: before the cursor, and within `until`.
    func upperBound(cursor: String?) -> String {
        if let cursor { return "(" + cursor }
        if let until { return String(until * 1000 + 999) }
        return "+"
    }

    var lowerBound: String { since.map { String($0 * 1000) } ?? "-" }
}

/// The CSV export: one row per entry, every cell quoted, and a cell that a spreadsheet would
/// read as a formula (starting with = + - @, a tab or a carriage return) prefixed with `'`.
enum AuditCSV {
    static let columns = ["id", "time", "timestamp", "actor", "action", "target", "result", "details"]

    static func render(_ entries: [JSON]) -> String {
        var lines = [columns.map(cell).joined(separator: ",")]
        for entry in entries {
            let timestamp = entry["timestamp"]?.intValue ?? 0
            let values: [String] = [
                entry["id"]?.stringValue ?? "", iso8601(timestamp), String(timestamp), entry["actor"]?.stringValue ?? "",
                entry["action"]?.stringValue ?? "", entry["target"]?.stringValue ?? "", entry["result"]?.stringValue ?? "",
                entry["details"].map { $0.stringValue ?? $0.text } ?? "",
            ]
            lines.append(values.map(cell).joined(separator: ","))
        }
        return lines.joined(separator: "\r\n") + "\r\n"
    }

    static func cell(_ value: String) -> String {
        var text = value
        if let first = text.unicodeScalars.first, "=+-@\t\r".unicodeScalars.contains(first) { text = "'" + text }
        return "\"" + text.split(separator: "\"", omittingEmptySubsequences: false).joined(separator: "\"\"") + "\""
    }

    /// A unix time as `2026-12-04T17:45:00Z`.
    static func iso8601(_ unix: Int64) -> String {
        let t = CivilTime(unix: unix)
        let two = CivilTime.two
        return "\(t.year)-\(two(t.month))-\(two(t.day))T\(two(t.hour)):\(two(t.minute)):\(two(t.second))Z"
    }
}
