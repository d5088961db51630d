import FCGIRuntime
import GatewayCore

/// The audit log of admin actions (docs/admin.md): who, what, when, result. A Redis stream
/// (`Keyspace.audit`), trimmed by age on every write (AUDIT_RETENTION_DAYS), newest first when read.
public enum Audit {
    /// Records one admin action. A failure to record is logged, not hidden, and does not undo
    /// the action (which has already happened).
    public static func record(
        _ action: AuditAction, target: String, result: String = "ok", details: JSON? = nil, context: Context
    ) {
        if action.counts(result) { GatewayMetrics.shared.action(action) }
        let actor = context.identity ?? "system"
        let minimumID = String(max(0, context.now - Int64(context.config.auditRetentionDays) * 86400) * 1000)
        var fields = ["ts", String(context.now), "actor", actor, "action", action.rawValue, "target", target, "result", result]
        if let details { fields += ["details", details.text] }
        do {
            _ = try context.redis.command(["XADD", Keyspace.audit, "MINID", "~", minimumID, "*"] + fields)
        } catch {
            context.logger.error("audit record failed", metadata: ["audit.action": "\(action.rawValue)", "error": "\(error)"])
        }
        context.logger.notice(
            "audit", metadata: ["audit.action": "\(action.rawValue)", "audit.target": "\(target)", "audit.result": "\(result)"])
    }

    /// `GET /api/admin/audit?limit=&cursor=&actor=&action=&since=&until=&format=`: newest first;
    /// `next_cursor` pages on. With filters one page looks at most `AuditQuery.scanBudget`
    /// entries: it may come back short, with a cursor to go on. `format`: the whole selection
    /// (at most `AuditQuery.maxExport` entries) as a JSON or CSV download.
    static func list(_ request: Request, _ context: Context) throws -> Response {
        let query = try AuditQuery(request)
        let pageLimit = try Paging.limit(request, default: 100) ?? 100
        let limit = query.format == nil ? pageLimit : AuditQuery.maxExport
        let cursor = try streamCursor(request)
        var upper = query.upperBound(cursor: cursor)
        let lower = query.lowerBound
        var entries: [JSON] = []
        var lastID: String?
        var scanned = 0
        var exhausted = false
        // Nothing lies before 0-0 (and Redis refuses an exclusive bound below it).
        if cursor.map({ $0.split(separator: "-").allSatisfy { UInt64($0) == 0 } }) == true { exhausted = true }
        while !exhausted && entries.count < limit && scanned < AuditQuery.scanBudget {
            let batch = query.filtered ? 500 : limit - entries.count
            let reply = try context.redis.command(["XREVRANGE", Keyspace.audit, upper, lower, "COUNT", String(batch)])
            let items = reply.array
            var looked = 0
            for item in items {
                looked += 1
                let parts = item.array
                guard parts.count == 2, let id = parts[0].string else { continue }
                scanned += 1
                lastID = id
                let fields = entryFields(id: id, parts[1].strings)
                if query.matches(fields) { entries.append(.object(fields)) }
                if entries.count == limit { break }
            }
            if items.count < batch && looked == items.count { exhausted = true }
            if let lastID { upper = "(" + lastID }
        }
        let total = try context.redis.integer("XLEN", Keyspace.audit)
        let next: JSON = exhausted ? .null : JSON(lastID)
        if query.format == "csv" {
            return Response(
                status: 200, headers: exportHeaders("text/csv; charset=utf-8", "csv", context: context, truncated: !exhausted),
                body: Array(AuditCSV.render(entries).utf8))
        }
        let body: JSON = [
            "entries": .array(entries), "count": JSON(entries.count), "total": .int(total), "next_cursor": next,
            "retention_days": JSON(context.config.auditRetentionDays),
        ]
        if query.format == "json" {
            return .json(200, body.text, headers: exportHeaders(nil, "json", context: context, truncated: !exhausted))
        }
        return .json(200, body.text)
    }

    private static func entryFields(id: String, _ values: [String]) -> [(String, JSON)] {
        var fields: [(String, JSON)] = [("id", .string(id))]
        var index = 0
        while index + 1 < values.count {
            let key = values[index]
            let value = values[index + 1]
            switch key {
            case "ts": fields.append(("timestamp", .int(Int64(value) ?? 0)))
            case "details": fields.append(("details", (try? JSON.parse(value)) ?? .string(value)))
            default: fields.append((key, .string(value)))
            }
            index += 2
        }
        return fields
    }

    private static func exportHeaders(
        _ type: String?, _ suffix: String, context: Context, truncated: Bool
    ) -> [(name: String, value: String)] {
        var headers: [(name: String, value: String)] = [
            ("Content-Disposition", "attachment; filename=\"audit-\(AuditCSV.iso8601(context.now).filter { $0 != ":" }).\(suffix)\""),
            ("X-Audit-Truncated", truncated ? "true" : "false"),
        ]
        if let type { headers.insert(contentsOf: [("Content-Type", type), ("Cache-Control", "no-store")], at: 0) }
        return headers
    }
}
