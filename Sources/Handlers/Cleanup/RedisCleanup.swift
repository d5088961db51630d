import FCGIRuntime
import GatewayCore
import Glibc
import Logging

/// Replaces `redis_cleanup.lua`: finds and removes what no TTL removes (docs/admin.md), keeps
/// a log of every run with the deleted items, and runs on a schedule inside the workers.
///
/// Targets (the Lua gateway's): token ids in `user:tokens:{email}` whose `token:info:{id}` is
/// gone (and the sets that become empty with them); `active_user_metadata:{email}` whose
/// `active_user:{email}` is gone; members of `active_users` whose `active_user:{email}` is
/// gone; sessions OAuth2 Proxy no longer has; and, for the gateway's own indexes, entries whose
/// data is gone. The index passes (`IndexBuild`) put every such item in its index, due; a run
/// is a background job over the due entries in bounded batches (`CleanupJob`), the preview
/// the same code as a dry run.
public enum RedisCleanup {
    /// A log keeps at most this many deleted items (the counts are always complete).
    static let maxLoggedItems = 1000

    // MARK: endpoints

    /// `GET /api/admin/redis/cleanup/preview`: what a run would remove now: the cleanup's
    /// phases as a dry run over the same due index entries (`CleanupRunner`, `dryRun`), so the
    /// counts are the ones a run started now removes (data that changes in between aside).
    /// It costs what a run costs without its pauses: in proportion to what is due, not to the
    /// keyspace. Nothing is changed. While the indexes are still being built, `indexing` says
    /// how far (what is not indexed yet is not counted).
    static func preview(_ request: Request, _ context: Context) throws -> Response {
        let runner = CleanupRunner(id: "", executedBy: "", manual: true, dryRun: true, context: context)
        try runner.runPhases()
        func listed(_ type: String) -> JSON { .array(runner.items.filter { $0["type"]?.stringValue == type }) }
        func count(_ kind: String) -> JSON { JSON(runner.counts[kind] ?? 0) }
        let emptySets = runner.items.filter { $0["type"]?.stringValue == "empty_token_set" }.compactMap { $0["key"] }
        let body: JSON = [
            "preview": true,
            "targets": [
                "orphaned_jwt_token_ids": listed("orphaned_jwt_token_id"), "orphaned_metadata": listed("orphaned_metadata"),
                "stale_active_users": listed("stale_active_user"), "empty_token_sets": .array(emptySets),
                "stale_sessions": .array(runner.items.filter { $0["type"]?.stringValue == "stale_session" }.compactMap { $0["key"] }),
            ],
            "counts": [
                "orphaned_jwt_token_ids": count("orphaned_jwt_token_ids"), "orphaned_metadata": count("orphaned_metadata"),
                "stale_active_users": count("stale_active_users"), "empty_token_sets": count("empty_token_sets"),
                "stale_sessions": count("stale_sessions"), "total": JSON(runner.removedTotal),
            ],
            "items_truncated": .bool(runner.itemsTruncated), "index_entries_due": .int(runner.processed),
            "estimated_freed_memory": .string(estimatedMemory(items: runner.removedTotal)),
            "config": ["log_retention_days": JSON(context.config.cleanupLogRetentionDays)],
        ]
        return .json(200, try IndexBuild.withProgress(body, context.redis).text)
    }

    /// `POST /api/admin/redis/cleanup`: starts a cleanup job and answers at once, 202
    /// `{cleanup_id, state:"running", job}`; 409 `cleanup_running` (with the running job) while
    /// one runs anywhere. Progress and the log: `GET …/cleanup/job`.
    static func execute(_ request: Request, _ context: Context) throws -> Response {
        let executor = try context.requireIdentity()
        guard let id = try CleanupJob.start(executedBy: executor, manual: true, redis: context.redis, now: context.now) else {
            throw APIError(
                409, .cleanupRunning, "A cleanup is already running", [("job", try CleanupJob.state(context.redis) ?? .null)])
        }
        CleanupJob.launch(id: id, executedBy: executor, manual: true, context: context)
        Audit.record(.redisCleanupStart, target: id, context: context)
        let body: JSON = ["cleanup_id": .string(id), "state": "running", "job": try CleanupJob.state(context.redis) ?? .null]
        return .json(202, body.text)
    }

    /// `GET /api/admin/redis/cleanup/job`: the running or last job `{job}` (null when none ran):
    /// state (`running`, `done`, `cancelled`, `failed`, `abandoned`), phase, processed/total
    /// items, removed count; when it ended, its log record as `log`.
    static func job(_ request: Request, _ context: Context) throws -> Response {
        guard case .object(var fields)? = try CleanupJob.state(context.redis) else {
            return .json(200, #"{"job":null}"#)
        }
        let state = fields.first { $0.0 == "state" }?.1.stringValue
        if state == "done" || state == "cancelled", let id = fields.first(where: { $0.0 == "cleanup_id" })?.1.stringValue {
            let stored = try context.redis.command("GET", logKey(id))
            if let text = stored.string, case .object(let record)? = try? JSON.parse(text) {
                fields.append(("log", .object([("cleanup_id", .string(id))] + record)))
            }
        }
        let body: JSON = ["job": .object(fields)]
        return .json(200, body.text)
    }

    /// `POST /api/admin/redis/cleanup/cancel`: asks the running job to stop after its current
    /// batch (202); it stores its log of what it did so far. 409 `no_cleanup_running` otherwise.
    static func cancel(_ request: Request, _ context: Context) throws -> Response {
        _ = try context.requireIdentity()
        let current = try CleanupJob.state(context.redis)
        guard let current, current["state"]?.stringValue == "running", let id = current["cleanup_id"]?.stringValue else {
            throw APIError(409, .noCleanupRunning, "No cleanup is running", [])
        }
        _ = try context.redis.command("HSET", CleanupJob.stateKey, "cancel", "1")
        Audit.record(.redisCleanupCancel, target: id, context: context)
        let body: JSON = ["message": "Cancel requested", "cleanup_id": .string(id)]
        return .json(202, body.text)
    }

    /// `GET /api/admin/redis/cleanup/logs`: the newest 100 runs → `{logs, total_logs, retention_days}`.
    static func logs(_ request: Request, _ context: Context) throws -> Response {
        let ids = try context.redis.command("ZREVRANGE", Keyspace.cleanupLogs, "0", "99").strings
        let records = ids.isEmpty ? [] : try context.redis.pipeline(ids.map { ["GET", Keyspace.cleanupLog($0)] })
        var logs: [JSON] = []
        for (id, stored) in zip(ids, records) {
            guard let text = stored.string, case .object(let fields)? = try? JSON.parse(text) else { continue }
            logs.append(.object([("cleanup_id", .string(id))] + fields))
        }
        let body: JSON = [
            "logs": .array(logs), "total_logs": JSON(logs.count),
            "retention_days": JSON(context.config.cleanupLogRetentionDays),
        ]
        return .json(200, body.text)
    }

    static func logKey(_ id: String) -> String { Keyspace.cleanupLog(id) }

    /// The Lua gateway's estimate, kept for the UI: about 500 bytes per removed item.
    static func estimatedMemory(items: Int) -> String {
        let bytes = Double(items * 500)
        if bytes < 1024 { return "\(Int(bytes))B" }
        if bytes < 1024 * 1024 { return "\(rounded(bytes / 1024))KB" }
        return "\(rounded(bytes / (1024 * 1024)))MB"
    }

    static func rounded(_ value: Double) -> String {
        let tenths = Int((value * 10).rounded())
        return "\(tenths / 10).\(tenths % 10)"
    }
}
