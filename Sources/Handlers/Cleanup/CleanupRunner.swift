import FCGIRuntime
import GatewayCore
import Glibc
import Logging

/// One cleanup over the indexes: its counts, log items and progress. The run (`CleanupJob`)
/// and the preview (`RedisCleanup.preview`, `dryRun`) are this same code over the same items:
/// the entries due in each index (score ≤ now; the index passes put what they found gone at
/// score 0), in batches, each checked by a script that changes nothing in a dry run.
final class CleanupRunner {
    let id: String
    let executedBy: String
    let manual: Bool
    let dryRun: Bool
    let config: Config
    let redis: RedisClient
    let logger: Logger
    let clock: Clock
    let started: Int64

    var counts: [String: Int] = [:]
    var items: [JSON] = []
    var itemsTruncated = false
    var processed: Int64 = 0
    var total: Int64 = 0
    var phase = CleanupJob.Phase.tokens
    var cancelled = false
    /// A dry run's ids per set so far: a set empties when its last listed id would go.
    var dryRemovedPerSet: [String: Int64] = [:]

    /// Index entries dropped (their data was gone): not counted as deleted data.
    var indexRemoved: Int64 = 0

    /// What the log counts as deleted: the old cleanup's targets and stale sessions.
    var removedTotal: Int { counts.values.reduce(0, +) }

    init(id: String, executedBy: String, manual: Bool, dryRun: Bool, context: Context) {
        self.id = id
        self.executedBy = executedBy
        self.manual = manual
        self.dryRun = dryRun
        config = context.config
        redis = context.redis
        logger = context.logger
        clock = context.clock
        started = context.clock.monotonicMilliseconds()
        workStarted = started
    }

    struct Cancelled: Error {}
    struct LostLock: Error {}

    var now: Int64 { clock.unixSeconds() }

    /// Attempts per phase: a phase that fails on Redis (a timeout on a busy machine, a
    /// reconnect) starts again from its beginning; every phase is safe to repeat.
    static let attempts = 3

    /// Runs every phase; a cancel ends the run early (what was done is kept and logged).
    func runPhases() throws {
        total = try estimateTotal()
        do {
            // A dry run skips `revoked`: it drops index entries only, which no count shows.
            for phase in CleanupJob.Phase.allCases where !(dryRun && phase == .revoked) {
                self.phase = phase
                try retrying { try run(phase) }
            }
        } catch is Cancelled {
            cancelled = true
        }
    }

    func run(_ phase: CleanupJob.Phase) throws {
        try heartbeat()
        switch phase {
        case .tokens: try pruneTokens()
        case .revoked: try pruneRevoked()
        case .users: try pruneUsers()
        case .sessions: try pruneSessions()
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

    /// How many entries the phases will look at (those due in each index), for the progress bar.
    func estimateTotal() throws(RedisError) -> Int64 {
        let now = String(self.now)
        let keys = [AdminIndex.tokenExpiry, AdminIndex.revoked, AdminIndex.activeUntil, AdminIndex.sessionExpiry]
        return try redis.pipeline(keys.map { ["ZCOUNT", $0, "-inf", now] }).reduce(0) { $0 + ($1.integer ?? 0) }
    }

    /// Between batches: renews the lock, records progress, honours a cancel, pauses. A runner
    /// without a job (the preview, `SessionAdmin.cleanupExpired`) goes straight on.
    func heartbeat() throws {
        guard !id.isEmpty else { return }
        let phaseIndex = (CleanupJob.Phase.allCases.firstIndex(of: phase) ?? 0) + 1
        let reply = try redis.eval(
            CleanupJob.heartbeatScript, keyList: [CleanupJob.lockKey, CleanupJob.stateKey],
            argumentList: [
                id, String(now), "phase", phase.rawValue, "phase_index", String(phaseIndex), "processed", String(min(processed, total)),
                "total", String(total), "removed", String(removedTotal),
            ])
        switch reply.integer {
        case -1: throw LostLock()
        case 1: throw Cancelled()
        default: pause()
        }
    }

    /// End of the last pause (monotonic ms): the time since is the batch's work.
    var workStarted: Int64

    /// Sleeps `CleanupJob.restPerWork` times as long as the batch worked (at least
    /// `pauseMicroseconds`, at most 100 ms): the job takes a bounded share of the CPU and of
    /// Redis, less when the machine is busy (a batch then takes longer, and so does the pause).
    func pause() {
        let worked = clock.monotonicMilliseconds() - workStarted
        let micros = min(max(Int64(CleanupJob.pauseMicroseconds), worked * 1000 * CleanupJob.restPerWork), 100_000)
        usleep(UInt32(micros))
        workStarted = clock.monotonicMilliseconds()
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

    /// The one walker: the entries of `key` due (score ≤ now), in batches, until none is left.
    /// A run drops or re-scores every entry it gets (so the next batch starts at the top); a
    /// dry run changes nothing and reads on past them.
    func due(_ key: String, _ handle: ([String]) throws -> Void) throws {
        var offset = 0
        var previous: [String] = []
        while true {
            let members = try redis.command(
                "ZRANGE", key, "-inf", String(now), "BYSCORE", "LIMIT", String(offset), String(CleanupJob.batch)
            ).strings
            if members.isEmpty || (!dryRun && members == previous) { return }
            previous = members
            processed += Int64(members.count)
            try handle(members)
            if dryRun { offset += members.count }
            try heartbeat()
        }
    }

    var mode: [String] { [dryRun ? "1" : "0", String(now)] }

    func pruneTokens() throws {
        try due(AdminIndex.tokenExpiry) { members in
            let parsed = members.map { member -> (id: String, email: String) in
                let parts = member.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: false)
                return (String(parts[0]), parts.count > 1 ? String(parts[1]) : "")
            }
            let results = try redis.eval(
                CleanupJob.pruneTokensScript,
                keyList: [AdminIndex.tokens, AdminIndex.tokenExpiry]
                    + parsed.flatMap { [Keyspace.tokenInfo($0.id), Keyspace.userTokens($0.email)] },
                argumentList: mode + members
            ).array
            for (token, result) in zip(parsed, results) {
                let code = result.integer ?? 0
                guard code > 0 else { continue }
                indexRemoved += 1
                guard code >= 2 else { continue }
                let set = Keyspace.userTokens(token.email)
                // The set's size before this id leaves it; a dry run subtracts the ids it let go before.
                let remaining = code - 1 - (dryRun ? dryRemovedPerSet[set, default: 0] : 0)
                if dryRun { dryRemovedPerSet[set, default: 0] += 1 }
                orphanedID(token.id, email: token.email, emptied: remaining <= 1)
            }
        }
    }

    func pruneRevoked() throws {
        try due(AdminIndex.revoked) { ids in
            let gone = try pruneByTTL(AdminIndex.revoked, members: ids, keys: ids.map(Keyspace.revokedToken), drop: true)
            indexRemoved += Int64(gone.count)
        }
    }

    func pruneUsers() throws {
        try due(AdminIndex.activeUntil) { emails in
            let results = try redis.eval(
                CleanupJob.pruneUsersScript,
                keyList: [AdminIndex.activeUsers, AdminIndex.activeUntil, AdminIndex.bans, Keyspace.activeUsers]
                    + emails.flatMap { [Keyspace.activeUser($0), Keyspace.ban($0), Keyspace.activeUserMetadata($0)] },
                argumentList: mode + emails
            ).array
            for (email, result) in zip(emails, results) {
                let bits = result.integer ?? 0
                if bits & 1 != 0 { indexRemoved += 1 }
                userRemoved(email, bits: bits)
            }
        }
    }

    func pruneSessions() throws {
        try due(AdminIndex.sessionExpiry) { keys in
            let gone = try pruneByTTL(AdminIndex.sessionExpiry, members: keys, keys: keys, drop: false)
            let dropped = dryRun ? Int64(gone.count) : try SessionIndex.forget(gone, redis: redis)
            if dropped > 0 { counts["stale_sessions", default: 0] += Int(dropped) }
            for key in gone.prefix(Int(dropped)) where items.count < RedisCleanup.maxLoggedItems {
                items.append(["type": "stale_session", "key": .string(key), "reason": "session_ended", "timestamp": .int(now)])
            }
        }
    }

    /// The members of `index` whose key is gone (`pruneByTTLScript`); the others are re-scored.
    private func pruneByTTL(_ index: String, members: [String], keys: [String], drop: Bool) throws(RedisError) -> [String] {
        let results = try redis.eval(
            CleanupJob.pruneByTTLScript, keyList: [index] + keys, argumentList: mode + [drop ? "1" : "0"] + members
        ).array
        return zip(members, results).compactMap { $0.1.integer == 1 ? $0.0 : nil }
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
                ]
            ),
            ("total_deleted", JSON(removed)), ("duration_ms", .int(clock.monotonicMilliseconds() - started)),
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
                "processed", String(min(processed, total)), "total", String(total), "removed", String(removed),
            ],
        ])
        _ = try redis.eval(CleanupJob.releaseScript, keys: ["lock": CleanupJob.lockKey], arguments: ["owner": id])
        let context = Context(config: config, redis: redis, logger: logger, now: now, identity: executedBy == "system" ? nil : executedBy)
        Audit.record(
            .redisCleanup, target: id,
            details: ["manual": .bool(manual), "total_deleted": JSON(removed), "cancelled": .bool(cancelled)], context: context)
        return .object(record)
    }
}
