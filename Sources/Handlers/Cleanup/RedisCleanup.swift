import FCGIRuntime
import GatewayCore
import Glibc
import Logging

/// Replaces `redis_cleanup.lua`: finds and removes what no TTL removes (docs/admin.md), keeps
/// a log of every run with the deleted items, and runs on a schedule inside the workers.
///
/// Targets, found with `SCAN`/`SSCAN` only:
/// - token ids in `user:tokens:{email}` whose `token:info:{id}` is gone (and the sets that
///   become empty with them);
/// - `active_user_metadata:{email}` whose `active_user:{email}` is gone;
/// - members of `active_users` whose `active_user:{email}` is gone.
/// Each removal re-checks its condition inside one server-side script, so a target that came
/// back to life between the scan and the removal (a user signing in again) is left alone.
public enum RedisCleanup {
    /// A log keeps at most this many deleted items (the counts are always complete).
    static let maxLoggedItems = 1000
    static let chunk = 500

    struct Target {
        enum Kind: String {
            case orphanedTokenID = "orphaned_jwt_token_id"
            case orphanedMetadata = "orphaned_metadata"
            case staleActiveUser = "stale_active_user"
        }

        let kind: Kind
        /// The key to change: a set to remove `member` from, or a key to delete (`member` empty).
        let key: String
        let member: String
        /// The removal happens only while this key does not exist.
        let guardKey: String
        let email: String

        var reason: String { kind == .orphanedTokenID ? "token_info_expired_and_deleted" : "no_active_user" }

        func item(timestamp: Int64? = nil) -> JSON {
            var fields: [(String, JSON)] = [("type", .string(kind.rawValue)), ("user_email", .string(email))]
            if kind == .orphanedTokenID { fields.append(("token_id", .string(member))) }
            fields += [("key", .string(key)), ("reason", .string(reason))]
            if let timestamp { fields.append(("timestamp", .int(timestamp))) }
            return .object(fields)
        }
    }

    struct Targets {
        var tokenIDs: [Target] = []
        var metadata: [Target] = []
        var activeUsers: [Target] = []
        /// `user:tokens:*` sets all of whose members are orphaned.
        var emptySets: [String] = []

        var all: [Target] { tokenIDs + metadata + activeUsers }
    }

    // MARK: endpoints

    /// `GET /api/admin/redis/cleanup/preview`: what a run would remove; nothing is changed.
    static func preview(_ request: Request, _ context: Context) throws -> Response {
        let targets = try find(context.redis)
        let total = targets.tokenIDs.count + targets.metadata.count + targets.activeUsers.count
        let body: JSON = [
            "preview": true,
            "targets": [
                "orphaned_jwt_token_ids": .array(targets.tokenIDs.map { $0.item() }),
                "orphaned_metadata": .array(targets.metadata.map { $0.item() }),
                "stale_active_users": .array(targets.activeUsers.map { $0.item() }),
                "empty_token_sets": JSON(targets.emptySets),
            ],
            "counts": [
                "orphaned_jwt_token_ids": JSON(targets.tokenIDs.count), "orphaned_metadata": JSON(targets.metadata.count),
                "stale_active_users": JSON(targets.activeUsers.count), "empty_token_sets": JSON(targets.emptySets.count),
                "total": JSON(total),
            ],
            "estimated_freed_memory": .string(estimatedMemory(items: total)),
            "config": ["log_retention_days": JSON(context.config.cleanupLogRetentionDays)],
        ]
        return .json(200, body.text)
    }

    /// `POST /api/admin/redis/cleanup`: removes the targets and answers with the log record.
    static func execute(_ request: Request, _ context: Context) throws -> Response {
        let executor = try context.requireIdentity()
        let (id, record) = try run(executedBy: executor, manual: true, context: context)
        var fields: [(String, JSON)] = [("cleanup_id", .string(id)), ("executed_at", record["timestamp"] ?? .null)]
        if case .object(let recorded) = record { fields += recorded.filter { $0.0 != "timestamp" } }
        return .json(200, JSON.object(fields).text)
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

    // MARK: the run

    /// One cleanup: find, remove, record the log (`cleanup:log:{id}` with the retention as TTL,
    /// the id in `cleanup:logs`, entries past the retention trimmed) and the audit entry.
    public static func run(executedBy: String, manual: Bool, context: Context) throws(RedisError) -> (id: String, record: JSON) {
        let started = context.clock.monotonicMilliseconds()
        let targets = try find(context.redis)
        let all = targets.all
        var outcomes: [Int64] = []
        var start = 0
        while start < all.count {
            let part = all[start..<min(start + chunk, all.count)]
            let reply = try context.redis.eval(
                removeScript, keyList: part.flatMap { [$0.key, $0.guardKey] }, argumentList: part.map(\.member))
            let values = reply.array.map { $0.integer ?? 0 }
            guard values.count == part.count else { throw .protocolError("unexpected cleanup reply") }
            outcomes += values
            start += chunk
        }

        var counts: [Target.Kind: Int] = [:]
        var emptySets = 0
        var items: [JSON] = []
        for (target, outcome) in zip(all, outcomes) where outcome > 0 {
            counts[target.kind, default: 0] += 1
            items.append(target.item(timestamp: context.now))
            if outcome == 2 && target.kind == .orphanedTokenID {
                emptySets += 1
                items.append([
                    "type": "empty_token_set", "user_email": .string(target.email), "key": .string(target.key),
                    "reason": "became_empty_after_cleanup", "timestamp": .int(context.now),
                ])
            }
        }
        let total = counts.values.reduce(0, +) + emptySets
        var record: [(String, JSON)] = [
            ("timestamp", .int(context.now)), ("executed_by", .string(executedBy)), ("manual", .bool(manual)),
            (
                "results",
                [
                    "orphaned_jwt_token_ids_deleted": JSON(counts[.orphanedTokenID] ?? 0),
                    "orphaned_metadata_deleted": JSON(counts[.orphanedMetadata] ?? 0),
                    "empty_token_sets_deleted": JSON(emptySets),
                    "stale_active_users_removed": JSON(counts[.staleActiveUser] ?? 0),
                ]
            ),
            ("total_deleted", JSON(total)), ("duration_ms", .int(context.clock.monotonicMilliseconds() - started)),
            ("freed_memory", .string(estimatedMemory(items: total))),
            ("deleted_items", .array(Array(items.prefix(maxLoggedItems)))),
        ]
        if items.count > maxLoggedItems { record.append(("deleted_items_truncated", true)) }

        let id = "\(context.now)-\(Hex.encode(Crypto.randomBytes(4)))"
        let retention = Int64(context.config.cleanupLogRetentionDays) * 86400
        try context.redis.transaction([
            ["SET", Keyspace.cleanupLog(id), JSON.object(record).text, "EX", String(retention)],
            ["ZADD", Keyspace.cleanupLogs, String(context.now), id],
            ["ZREMRANGEBYSCORE", Keyspace.cleanupLogs, "-inf", "(\(context.now - retention)"],
        ])
        Audit.record(
            "redis.cleanup", target: id,
            details: ["manual": .bool(manual), "total_deleted": JSON(total)], context: context)
        return (id, .object(record))
    }

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

    static func find(_ redis: RedisClient) throws(RedisError) -> Targets {
        var targets = Targets()
        let setPrefix = Keyspace.userTokensPrefix
        let setKeys = try redis.scanAll(["SCAN"], match: Keyspace.pattern(prefix: setPrefix))
        for part in chunks(setKeys) {
            // Error replies stay values: a key of another type under the prefix is not ours to touch.
            let memberReplies = try redis.replies(part.map { ["SMEMBERS", $0] })
            var candidates: [(set: String, id: String)] = []
            for (key, reply) in zip(part, memberReplies) {
                guard case .array = reply else { continue }  // not a set: not ours to touch
                candidates += reply.strings.map { (key, $0) }
            }
            let exists = try existence(redis, candidates.map { Keyspace.tokenInfo($0.id) })
            var orphanedPerSet: [String: Int] = [:]
            for (candidate, present) in zip(candidates, exists) where !present {
                let email = String(candidate.set.dropFirst(setPrefix.count))
                targets.tokenIDs.append(
                    Target(
                        kind: .orphanedTokenID, key: candidate.set, member: candidate.id,
                        guardKey: Keyspace.tokenInfo(candidate.id), email: email))
                orphanedPerSet[candidate.set, default: 0] += 1
            }
            for (key, reply) in zip(part, memberReplies) where orphanedPerSet[key] == reply.array.count && !reply.array.isEmpty {
                targets.emptySets.append(key)
            }
        }

        let metadataPrefix = Keyspace.activeUserMetadataPrefix
        let metadataKeys = try redis.scanAll(["SCAN"], match: Keyspace.pattern(prefix: metadataPrefix))
        let emails = metadataKeys.map { String($0.dropFirst(metadataPrefix.count)) }
        for (index, present) in try existence(redis, emails.map(Keyspace.activeUser)).enumerated() where !present {
            targets.metadata.append(
                Target(
                    kind: .orphanedMetadata, key: metadataKeys[index], member: "",
                    guardKey: Keyspace.activeUser(emails[index]), email: emails[index]))
        }

        let users = try redis.scanAll(["SSCAN", Keyspace.activeUsers])
        for (index, present) in try existence(redis, users.map(Keyspace.activeUser)).enumerated() where !present {
            targets.activeUsers.append(
                Target(
                    kind: .staleActiveUser, key: Keyspace.activeUsers, member: users[index],
                    guardKey: Keyspace.activeUser(users[index]), email: users[index]))
        }
        return targets
    }

    /// `EXISTS` for each key, pipelined in chunks.
    static func existence(_ redis: RedisClient, _ keys: [String]) throws(RedisError) -> [Bool] {
        var result: [Bool] = []
        for part in chunks(keys) {
            for reply in try redis.pipeline(part.map { ["EXISTS", $0] }) { result.append(reply.integer == 1) }
        }
        return result
    }

    static func chunks<T>(_ values: [T]) -> [ArraySlice<T>] {
        stride(from: 0, to: values.count, by: chunk).map { values[$0..<min($0 + chunk, values.count)] }
    }

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
