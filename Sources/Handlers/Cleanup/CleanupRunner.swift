import FCGIRuntime
import GatewayCore
import Glibc
import Logging

/// One running cleanup job: its counts, log items and progress.
final class CleanupRunner {
    let id: String
    let executedBy: String
    let manual: Bool
    let config: Config
    let redis: RedisClient
    let logger: Logger
    let started = Clock.system.monotonicMilliseconds()

    var counts: [String: Int] = [:]
    var items: [JSON] = []
    var itemsTruncated = false
    var processed: Int64 = 0
    var total: Int64 = 0
    var indexed: Int64 = 0
    var phase = CleanupJob.Phase.tokens
    var cancelled = false

    /// Index entries dropped (their data was gone): not counted as deleted data.
    var indexRemoved: Int64 = 0

    /// What the log counts as deleted: the old cleanup's targets and stale sessions.
    var removedTotal: Int { counts.values.reduce(0, +) }

    init(id: String, executedBy: String, manual: Bool, config: Config, redis: RedisClient, logger: Logger) {
        self.id = id
        self.executedBy = executedBy
        self.manual = manual
        self.config = config
        self.redis = redis
        self.logger = logger
    }

    struct Cancelled: Error {}
    struct LostLock: Error {}

    var now: Int64 { Clock.system.unixSeconds() }

    func check(_ reply: RedisReply) throws(RedisError) -> RedisReply {
        return reply
    }

    /// Attempts per phase: a phase that fails on Redis (a timeout on a busy machine, a
    /// reconnect) starts again from its beginning; every phase is safe to repeat.
    static let attempts = 3

    func execute() throws -> JSON {
        total = try estimateTotal()
        do {
            for phase in CleanupJob.Phase.allCases {
                self.phase = phase
                try retrying { try run(phase) }
            }
        } catch is Cancelled {
            cancelled = true
        }
        return try finish()
    }

    func run(_ phase: CleanupJob.Phase) throws {
        try heartbeat()
        switch phase {
        case .tokens: try pruneTokens()
        case .revoked: try pruneRevoked()
        case .users: try pruneUsers()
        case .sessions: try pruneSessions()
        case .keyspace: try reconcileKeyspace()
        case .activeUsersSet: try pruneActiveUsersSet()
        }
    }

    func retrying(_ body: () throws -> Void) throws {
        var attempt = 1
        while true {
            do {
                return try body()
            } catch let error as RedisError where attempt < Self.attempts {
                logger.warning(
                    "cleanup phase failed, starting it again",
                    metadata: ["cleanup.id": "\(id)", "cleanup.phase": "\(phase.rawValue)", "error": "\(error)"])
                attempt += 1
                sleep(1)
            }
        }
    }

    /// How many items the phases will look at, for the progress bar (the keyspace pass counts
    /// every key; the other phases the entries of their index).
    func estimateTotal() throws(RedisError) -> Int64 {
        let now = String(self.now)
        let replies = try redis.pipeline([
            ["ZCARD", AdminIndex.tokenExpiry], ["ZCOUNT", AdminIndex.revoked, "-inf", now], ["ZCARD", AdminIndex.activeUntil],
            ["ZCARD", AdminIndex.sessionExpiry], ["DBSIZE"], ["SCARD", Keyspace.activeUsers],
        ])
        var sum: Int64 = 0
        for reply in replies { sum += try check(reply).integer ?? 0 }
        return sum
    }

    /// Between batches: renews the lock, records progress, honours a cancel, pauses. A runner
    /// without a job (`SessionAdmin.cleanupExpired`) only pauses.
    func heartbeat() throws {
        guard !id.isEmpty else {
            usleep(CleanupJob.pauseMicroseconds / 4)
            return
        }
        let phaseIndex = (CleanupJob.Phase.allCases.firstIndex(of: phase) ?? 0) + 1
        let reply = try check(
            try redis.eval(
                CleanupJob.heartbeatScript, keyList: [CleanupJob.lockKey, CleanupJob.stateKey],
                argumentList: [
                    id, String(now), "phase", phase.rawValue, "phase_index", String(phaseIndex), "processed", String(min(processed, total)),
                    "total", String(total), "removed", String(removedTotal), "indexed", String(indexed),
                ]))
        switch reply.integer {
        case -1: throw LostLock()
        case 1: throw Cancelled()
        default: pause()
        }
    }

    /// End of the last pause (monotonic ms): the time since is the batch's work.
    var workStarted = Clock.system.monotonicMilliseconds()

    /// Sleeps `CleanupJob.restPerWork` times as long as the batch worked (at least
    /// `pauseMicroseconds`, at most 100 ms): the job takes a bounded share of the CPU and of
    /// Redis, less when the machine is busy (a batch then takes longer, and so does the pause).
    func pause() {
        let worked = Clock.system.monotonicMilliseconds() - workStarted
        let micros = min(max(Int64(CleanupJob.pauseMicroseconds), worked * 1000 * CleanupJob.restPerWork), 100_000)
        usleep(UInt32(micros))
        workStarted = Clock.system.monotonicMilliseconds()
    }

    func note(_ kind: String, _ item: @autoclosure () -> JSON) {
        counts[kind, default: 0] += 1
        if items.count < RedisCleanup.maxLoggedItems { items.append(item()) } else { itemsTruncated = true }
    }

    func orphanedID(_ id: String, email: String, emptied: Bool) {
        let set = Keyspace.userTokens(email)
        note(
            "orphaned_jwt_token_ids",
            [
                "type": "orphaned_jwt_token_id", "user_email": .string(email), "token_id": .string(id), "key": .string(set),
                "reason": "token_info_expired_and_deleted", "timestamp": .int(now),
            ])
        if emptied {
            note(
                "empty_token_sets",
                [
                    "type": "empty_token_set", "user_email": .string(email), "key": .string(set), "reason": "became_empty_after_cleanup",
                    "timestamp": .int(now),
                ])
        }
    }

    func userRemoved(_ email: String, bits: Int64) {
        if bits & 2 != 0 {
            note(
                "orphaned_metadata",
                [
                    "type": "orphaned_metadata", "user_email": .string(email), "key": .string(Keyspace.activeUserMetadata(email)),
                    "reason": "no_active_user", "timestamp": .int(now),
                ])
        }
        if bits & 4 != 0 {
            note(
                "stale_active_users",
                [
                    "type": "stale_active_user", "user_email": .string(email), "key": .string(Keyspace.activeUsers),
                    "reason": "no_active_user",
                    "timestamp": .int(now),
                ])
        }
    }

    // MARK: phases

    func pruneTokens() throws {
        try walk(AdminIndex.tokenExpiry) { members in
            let results = try check(try redis.eval(CleanupJob.pruneTokensScript, keyList: [], argumentList: members)).array
            for (member, result) in zip(members, results) {
                let code = result.integer ?? 0
                guard code > 0 else { continue }
                indexRemoved += 1
                if code >= 2, let space = member.firstIndex(of: " ") {
                    orphanedID(String(member[..<space]), email: String(member[member.index(after: space)...]), emptied: code == 3)
                }
            }
        }
    }

    /// Entries of `key` due (score ≤ now), in batches, until none is left; `handle` must drop
    /// or re-score every entry it gets (else the phase would see it again: it stops then).
    func due(_ key: String, _ handle: ([String]) throws -> Void) throws {
        var previous: [String] = []
        while true {
            let reply = try check(
                try redis.command("ZRANGE", key, "-inf", String(now), "BYSCORE", "LIMIT", "0", String(CleanupJob.batch)))
            let members = reply.strings
            if members.isEmpty || members == previous { return }
            previous = members
            processed += Int64(members.count)
            try handle(members)
            try heartbeat()
        }
    }

    func pruneRevoked() throws {
        try due(AdminIndex.revoked) { ids in
            let dropped =
                try check(try redis.eval(CleanupJob.pruneRevokedScript, keyList: [], argumentList: [String(now)] + ids)).integer ?? 0
            indexRemoved += dropped
        }
    }

    /// Every member of an index, in ZSCAN batches (bounded by the index, not the keyspace).
    func walk(_ key: String, _ handle: ([String]) throws -> Void) throws {
        var cursor = "0"
        repeat {
            let reply = try check(try redis.command("ZSCAN", key, cursor, "COUNT", String(CleanupJob.batch)))
            let parts = reply.array
            guard parts.count == 2, let next = parts[0].string else { throw RedisError.protocolError("unexpected ZSCAN reply") }
            cursor = next
            let members = IndexPage.pairs(parts[1]).map(\.member)
            processed += Int64(members.count)
            if !members.isEmpty { try handle(members) }
            try heartbeat()
        } while cursor != "0"
    }

    func pruneUsers() throws {
        try walk(AdminIndex.activeUntil) { emails in
            let results = try check(try redis.eval(CleanupJob.pruneUsersScript, keyList: [], argumentList: [String(now)] + emails)).array
            for (email, result) in zip(emails, results) {
                let bits = result.integer ?? 0
                if bits & 1 != 0 { indexRemoved += 1 }
                userRemoved(email, bits: bits)
            }
        }
    }

    func pruneSessions() throws {
        try walk(AdminIndex.sessionExpiry) { keys in
            let gone = try check(try redis.eval(CleanupJob.dueSessionsScript, keyList: [], argumentList: [String(now)] + keys)).strings
            let dropped = try SessionIndex.forget(gone, redis: redis)
            if dropped > 0 { counts["stale_sessions", default: 0] += Int(dropped) }
            for key in gone.prefix(Int(dropped)) where items.count < RedisCleanup.maxLoggedItems {
                items.append(["type": "stale_session", "key": .string(key), "reason": "session_ended", "timestamp": .int(now)])
            }
        }
    }

    func pruneActiveUsersSet() throws {
        var cursor = "0"
        repeat {
            let reply = try check(try redis.command("SSCAN", Keyspace.activeUsers, cursor, "COUNT", String(CleanupJob.batch)))
            let parts = reply.array
            guard parts.count == 2, let next = parts[0].string else { throw RedisError.protocolError("unexpected SSCAN reply") }
            cursor = next
            let emails = parts[1].strings
            processed += Int64(emails.count)
            if !emails.isEmpty {
                let results = try check(
                    try redis.eval(
                        RedisCleanup.removeScript, keyList: emails.flatMap { [Keyspace.activeUsers, Keyspace.activeUser($0)] },
                        argumentList: emails)
                ).array
                for (email, result) in zip(emails, results) where (result.integer ?? 0) > 0 {
                    userRemoved(email, bits: 4)
                }
            }
            try heartbeat()
        } while cursor != "0"
    }

    // MARK: the end

    /// Stores the log (as every cleanup log), the audit entry, the final state; frees the lock.
    func finish() throws -> JSON {
        let now = self.now
        let removed = removedTotal
        var record: [(String, JSON)] = [
            ("timestamp", .int(now)), ("executed_by", .string(executedBy)), ("manual", .bool(manual)),
            (
                "results",
                [
                    "orphaned_jwt_token_ids_deleted": JSON(counts["orphaned_jwt_token_ids"] ?? 0),
                    "orphaned_metadata_deleted": JSON(counts["orphaned_metadata"] ?? 0),
                    "empty_token_sets_deleted": JSON(counts["empty_token_sets"] ?? 0),
                    "stale_active_users_removed": JSON(counts["stale_active_users"] ?? 0),
                    "stale_sessions_removed": JSON(counts["stale_sessions"] ?? 0),
                    "index_entries_removed": .int(indexRemoved),
                    "index_entries_added": .int(indexed),
                ]
            ),
            ("total_deleted", JSON(removed)), ("duration_ms", .int(Clock.system.monotonicMilliseconds() - started)),
            ("freed_memory", .string(RedisCleanup.estimatedMemory(items: removed))),
            ("cancelled", .bool(cancelled)), ("items_examined", .int(processed)),
            ("deleted_items", .array(items)),
        ]
        if itemsTruncated { record.append(("deleted_items_truncated", true)) }
        let retention = Int64(config.cleanupLogRetentionDays) * 86400
        let text = JSON.object(record).text
        // Done: the total becomes what was really looked at (keys come and go during a run).
        if !cancelled { total = processed }
        _ = try redis.transaction([
            ["SET", RedisCleanup.logKey(id), text, "EX", String(retention)],
            ["ZADD", Keyspace.cleanupLogs, String(now), id],
            ["ZREMRANGEBYSCORE", Keyspace.cleanupLogs, "-inf", "(\(now - retention)"],
            [
                "HSET", CleanupJob.stateKey, "state", cancelled ? "cancelled" : "done", "finished_at", String(now),
                "processed", String(min(processed, total)), "total", String(total), "removed", String(removed), "indexed", String(indexed),
            ],
        ])
        _ = try redis.eval(CleanupJob.releaseScript, keyList: [CleanupJob.lockKey], argumentList: [id])
        let context = Context(config: config, redis: redis, logger: logger, now: now, identity: executedBy == "system" ? nil : executedBy)
        Audit.record(
            "redis.cleanup", target: id,
            details: ["manual": .bool(manual), "total_deleted": JSON(removed), "cancelled": .bool(cancelled)], context: context)
        return .object(record)
    }
}
