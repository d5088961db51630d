import FCGIRuntime
import GatewayCore

/// The audit log of admin actions (docs/admin.md): who, what, when, result. A Redis stream
/// (`Keyspace.audit`), trimmed by age on every write (AUDIT_RETENTION_DAYS), newest first when read.
public enum Audit {
    /// Records one admin action. A failure to record is logged, not hidden, and does not undo
    /// the action (which has already happened).
    public static func record(
        _ action: String, target: String, result: String = "ok", details: JSON? = nil, context: Context
    ) {
        if result == "ok" { GatewayMetrics.shared.action(action) }
        let actor = context.identity ?? "system"
        let minimumID = String(max(0, context.now - Int64(context.config.auditRetentionDays) * 86400) * 1000)
        var fields = ["ts", String(context.now), "actor", actor, "action", action, "target", target, "result", result]
        if let details { fields += ["details", details.text] }
        do {
            _ = try context.redis.command(["XADD", Keyspace.audit, "MINID", "~", minimumID, "*"] + fields)
        } catch {
            context.logger.error("audit record failed", metadata: ["audit.action": "\(action)", "error": "\(error)"])
        }
        context.logger.notice("audit", metadata: ["audit.action": "\(action)", "audit.target": "\(target)", "audit.result": "\(result)"])
    }

    /// `GET /api/admin/audit?limit=&cursor=`: newest first; `next_cursor` pages on.
    static func list(_ request: Request, _ context: Context) throws -> Response {
        let limit = try Paging.limit(request, default: 100)
        let cursor = try streamCursor(request)
        let upper = cursor.map { "(" + $0 } ?? "+"
        // Nothing lies before 0-0 (and Redis refuses an exclusive bound below it).
        let reply: RedisReply =
            cursor.map({ $0.split(separator: "-").allSatisfy { UInt64($0) == 0 } }) == true
            ? .array([]) : try context.redis.command(["XREVRANGE", Keyspace.audit, upper, "-", "COUNT", String(limit ?? 100)])
        var entries: [JSON] = []
        var lastID: String?
        for item in reply.array {
            let parts = item.array
            guard parts.count == 2, let id = parts[0].string else { continue }
            let values = parts[1].strings
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
            entries.append(.object(fields))
            lastID = id
        }
        let total = try context.redis.integer("XLEN", Keyspace.audit)
        let next: JSON = entries.count == (limit ?? 100) ? JSON(lastID) : .null
        let body: JSON = [
            "entries": .array(entries), "count": JSON(entries.count), "total": .int(total), "next_cursor": next,
            "retention_days": JSON(context.config.auditRetentionDays),
        ]
        return .json(200, body.text)
    }
}
