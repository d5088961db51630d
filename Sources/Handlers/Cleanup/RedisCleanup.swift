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
/// gone; and, for the gateway's own indexes, entries whose data is gone. A run is a background
/// job in bounded batches (`CleanupJob`); the preview reads the indexes only, so it answers in
/// milliseconds however large the keyspace is.
public enum RedisCleanup {
    /// A log keeps at most this many deleted items (the counts are always complete).
    static let maxLoggedItems = 1000

    // MARK: endpoints

    /// Entries verified per kind by the preview.
    static let previewSample = 100

    /// `GET /api/admin/redis/cleanup/preview`: what a run would remove, from the indexes:
    /// index entries due (expired tokens, users past their active period or ban, sessions past
    /// their expiry), the first `previewSample` of each kind checked one by one and listed. A
    /// count is exact when all of its kind were checked (`estimated: false`), else the number
    /// of due index entries (an upper bound). Data the gateway has not indexed yet (written by
    /// the Lua gateway) is found by the run's keyspace pass, not here. Nothing is changed.
    static func preview(_ request: Request, _ context: Context) throws -> Response {
        let redis = context.redis
        let now = String(context.now)
        let sample = String(previewSample)
        let replies = try redis.pipeline([
            ["ZCOUNT", AdminIndex.tokenExpiry, "-inf", now], ["ZCOUNT", AdminIndex.activeUntil, "-inf", now],
            ["ZCOUNT", AdminIndex.sessionExpiry, "-inf", now], ["DBSIZE"],
            ["ZRANGE", AdminIndex.tokenExpiry, "-inf", now, "BYSCORE", "LIMIT", "0", sample],
            ["ZRANGE", AdminIndex.activeUntil, "-inf", now, "BYSCORE", "LIMIT", "0", sample],
            ["ZRANGE", AdminIndex.sessionExpiry, "-inf", now, "BYSCORE", "LIMIT", "0", sample],
        ])
        for reply in replies {
        }
        let due = replies[0...3].map { $0.integer ?? 0 }
        let tokenMembers = replies[4].strings.compactMap { member -> (id: String, email: String)? in
            guard let space = member.firstIndex(of: " ") else { return nil }
            return (String(member[..<space]), String(member[member.index(after: space)...]))
        }
        let emails = replies[5].strings
        let sessions = replies[6].strings
        var checks: [[String]] = tokenMembers.flatMap { token in
            [
                ["EXISTS", Keyspace.tokenInfo(token.id)], ["SISMEMBER", Keyspace.userTokens(token.email), token.id],
                ["SCARD", Keyspace.userTokens(token.email)],
            ]
        }
        checks += emails.flatMap { email in
            [
                ["EXISTS", Keyspace.activeUser(email), Keyspace.ban(email)], ["EXISTS", Keyspace.activeUserMetadata(email)],
                ["SISMEMBER", Keyspace.activeUsers, email],
            ]
        }
        checks += sessions.map { ["EXISTS", $0] }
        let results = checks.isEmpty ? [] : try redis.pipeline(checks).map { $0.integer ?? 0 }

        var orphanedIDs: [JSON] = []
        var orphansPerSet: [String: (orphans: Int64, size: Int64)] = [:]
        for (index, token) in tokenMembers.enumerated() where results[index * 3] == 0 && results[index * 3 + 1] == 1 {
            let set = Keyspace.userTokens(token.email)
            orphanedIDs.append([
                "type": "orphaned_jwt_token_id", "user_email": .string(token.email), "token_id": .string(token.id), "key": .string(set),
                "reason": "token_info_expired_and_deleted",
            ])
            orphansPerSet[set] = ((orphansPerSet[set]?.orphans ?? 0) + 1, results[index * 3 + 2])
        }
        let emptySets = orphansPerSet.filter { $0.value.orphans == $0.value.size }.keys.sorted()
        var metadata: [JSON] = []
        var staleUsers: [JSON] = []
        var offset = tokenMembers.count * 3
        for email in emails {
            defer { offset += 3 }
            guard results[offset] == 0 else { continue }  // still active or banned
            if results[offset + 1] == 1 {
                metadata.append([
                    "type": "orphaned_metadata", "user_email": .string(email), "key": .string(Keyspace.activeUserMetadata(email)),
                    "reason": "no_active_user",
                ])
            }
            if results[offset + 2] == 1 {
                staleUsers.append([
                    "type": "stale_active_user", "user_email": .string(email), "key": .string(Keyspace.activeUsers),
                    "reason": "no_active_user",
                ])
            }
        }
        let staleSessions = sessions.enumerated().filter { results[offset + $0.offset] == 0 }.map { JSON.string($0.element) }

        let estimated = due[0] > Int64(tokenMembers.count) || due[1] > Int64(emails.count) || due[2] > Int64(sessions.count)
        func count(_ found: Int, due: Int64, sampled: Int) -> Int64 { due > Int64(sampled) ? due : Int64(found) }
        let counts = (
            ids: count(orphanedIDs.count, due: due[0], sampled: tokenMembers.count),
            metadata: count(metadata.count, due: due[1], sampled: emails.count),
            users: count(staleUsers.count, due: due[1], sampled: emails.count),
            sessions: count(staleSessions.count, due: due[2], sampled: sessions.count)
        )
        let total = counts.ids + counts.metadata + counts.users + counts.sessions
        let body: JSON = [
            "preview": true,
            "targets": [
                "orphaned_jwt_token_ids": .array(orphanedIDs), "orphaned_metadata": .array(metadata),
                "stale_active_users": .array(staleUsers), "empty_token_sets": JSON(emptySets), "stale_sessions": .array(staleSessions),
            ],
            "counts": [
                "orphaned_jwt_token_ids": .int(counts.ids), "orphaned_metadata": .int(counts.metadata),
                "stale_active_users": .int(counts.users), "empty_token_sets": JSON(emptySets.count),
                "stale_sessions": .int(counts.sessions), "total": .int(total),
            ],
            "estimated": .bool(estimated), "keyspace_keys": .int(due[3]),
            "estimated_freed_memory": .string(estimatedMemory(items: Int(total))),
            "config": ["log_retention_days": JSON(context.config.cleanupLogRetentionDays)],
        ]
        return .json(200, body.text)
    }

    /// `POST /api/admin/redis/cleanup`: starts a cleanup job and answers at once, 202
    /// `{cleanup_id, state:"running", job}`; 409 `cleanup_running` (with the running job) while
    /// one runs anywhere. Progress and the log: `GET …/cleanup/job`.
    static func execute(_ request: Request, _ context: Context) throws -> Response {
        let executor = try context.requireIdentity()
        guard let id = try CleanupJob.start(executedBy: executor, manual: true, redis: context.redis, now: context.now) else {
            throw APIError(
                409, "cleanup_running", "A cleanup is already running", [("job", try CleanupJob.state(context.redis) ?? .null)])
        }
        CleanupJob.launch(id: id, executedBy: executor, manual: true, context: context)
        Audit.record("redis.cleanup_start", target: id, context: context)
        let body: JSON = ["cleanup_id": .string(id), "state": "running", "job": try CleanupJob.state(context.redis) ?? .null]
        return .json(202, body.text)
    }

    /// `GET /api/admin/redis/cleanup/job`: the running or last job `{job}` (null when none ran):
    /// state (`running`, `done`, `cancelled`, `failed`, `abandoned`), phase, processed/total
    /// items, removed and indexed counts; when it ended, its log record as `log`.
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
            throw APIError(409, "no_cleanup_running", "No cleanup is running", [])
        }
        let reply = try context.redis.command("HSET", CleanupJob.stateKey, "cancel", "1")
        Audit.record("redis.cleanup_cancel", target: id, context: context)
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

    /// KEYS: pairs (target, guard); ARGV: one member per pair ("" = delete the target key).
    /// Per pair: 0 nothing removed (the guard exists again, or already gone), 1 removed,
    /// 2 removed and the set is now empty (Redis dropped it).
    static let removeScript = RedisScript(
        lists:
            """
            local out = {}
            for i = 1, #KEYS, 2 do
              local member = ARGV[(i + 1) / 2]
              local result = 0
              if redis.call('EXISTS', KEYS[i + 1]) == 0 then
                if member == '' then
                  result = redis.call('DEL', KEYS[i])
                else
                  result = redis.call('SREM', KEYS[i], member)
                  if result == 1 and redis.call('EXISTS', KEYS[i]) == 0 then result = 2 end
                end
              end
              out[#out + 1] = result
            end
            return out
            """)

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
