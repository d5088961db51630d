import FCGIRuntime
import Foundation
import GatewayCore
import Glibc
import Logging

/// The Redis cleanup as a background job (`POST /api/admin/redis/cleanup` starts it, the
/// schedule runs it as the system). It works in bounded batches on a thread and a Redis
/// connection of its own, so no request thread waits for it and no Redis call it makes takes
/// more than a few milliseconds; it rests three times as long as each batch worked, so /v1
/// traffic keeps its share.
///
/// One job at a time across every worker process and host: `gw:cleanup:job:lock` (SET NX with
/// a 30-second expiry the job renews on every batch; a job whose host dies frees it within 30
/// seconds). Progress, cancel request and outcome live in the hash `gw:cleanup:job`; the log of
/// a finished (or cancelled) job is stored like every cleanup log (`RedisCleanup.logKey`).
///
/// Phases, in order, each over the entries due in one index (score ≤ now: expired, or put
/// at 0 by an index pass that found their data gone, `IndexPass`):
/// 1. `tokens`: entries of the token expiry index whose `token:info` is gone leave the token
///    indexes, and the id its owner's `user:tokens:{email}` set (an orphaned id; a set that
///    loses its last id is an emptied set);
/// 2. `revoked`: revocations past their end leave the revoked index;
/// 3. `users`: users whose active-user key and ban are both gone leave the user indexes, with
///    their orphaned `active_user_metadata` and their `active_users` membership; the others
///    get their listing end re-read;
/// 4. `sessions`: sessions OAuth2 Proxy no longer has leave the session indexes and their
///    owner's set.
/// Every removal re-checks its condition inside a server-side script, so data that came back
/// (a user signing in again) is left alone. The preview runs the same phases as a dry run.
public enum CleanupJob {
    public static let stateKey = Keyspace.cleanupJob
    public static let lockKey = Keyspace.cleanupJobLock
    static let lockSeconds = 30
    /// Index entries per Redis call.
    static let batch = 300
    /// Pause between batches: at least this long, and `restPerWork` times as long as the batch
    /// worked, so the job leaves Redis and the CPU to requests most of the time.
    static let pauseMicroseconds: UInt32 = 1000
    static let restPerWork: Int64 = 3

    enum Phase: String, CaseIterable {
        case tokens, revoked, users, sessions
    }

    // MARK: starting

    /// Takes the job lock and records a new job; nil when another job holds the lock.
    public static func start(executedBy: String, manual: Bool, redis: RedisClient, now: Int64) throws(RedisError) -> String? {
        let id = "\(now)-\(Hex.encode(Crypto.randomBytes(4)))"
        let reply = try redis.command("SET", lockKey, id, "NX", "EX", String(lockSeconds))
        guard reply.string == "OK" else { return nil }
        _ = try redis.transaction([
            ["DEL", stateKey],
            [
                "HSET", stateKey, "cleanup_id", id, "state", "running", "phase", Phase.allCases[0].rawValue, "phase_index", "1",
                "phase_count", String(Phase.allCases.count), "processed", "0", "total", "0", "removed", "0",
                "executed_by", executedBy, "manual", manual ? "1" : "0", "started_at", String(now), "updated_at", String(now),
            ],
        ])
        return id
    }

    /// Starts the job on a thread of its own (a request thread returns at once).
    static func launch(id: String, executedBy: String, manual: Bool, context: Context) {
        let config = context.config
        let logger = context.logger
        let clock = context.clock
        Thread.detachNewThread {
            lowerPriority()
            let redis = RedisClient(options: config.redis)
            let context = Context(config: config, redis: redis, logger: logger, clock: clock, identity: nil)
            run(id: id, executedBy: executedBy, manual: manual, context: context)
        }
    }

    /// Puts the calling thread in Linux's idle scheduling class (`SCHED_IDLE`, allowed without
    /// privileges): the job gets the CPU the request threads leave idle.
    @discardableResult
    public static func lowerPriority() -> Bool {
        let schedIdle: Int32 = 5  // SCHED_IDLE in <bits/sched.h> (a GNU extension Swift does not import)
        var parameters = sched_param()
        parameters.sched_priority = 0
        return pthread_setschedparam(pthread_self(), schedIdle, &parameters) == 0
    }

    /// Runs a started job to its end on the calling thread (with the context's Redis client
    /// and clock); never throws (a failure is recorded in the job's state and logged).
    @discardableResult
    public static func run(id: String, executedBy: String, manual: Bool, context: Context) -> JSON? {
        let runner = CleanupRunner(id: id, executedBy: executedBy, manual: manual, dryRun: false, context: context)
        do {
            try runner.runPhases()
            let record = try runner.finish()
            context.logger.info("cleanup done", metadata: ["cleanup.id": "\(id)", "cleanup.removed": "\(runner.removedTotal)"])
            return record
        } catch {
            context.logger.error("cleanup failed", metadata: ["cleanup.id": "\(id)", "error": "\(error)"])
            _ = try? context.redis.pipeline([
                ["HSET", stateKey, "state", "failed", "error", "redis_unavailable", "finished_at", String(context.clock.unixSeconds())]
            ])
            _ = try? context.redis.eval(CleanupJob.releaseScript, keys: ["lock": lockKey], arguments: ["owner": id])
            return nil
        }
    }

    // MARK: reading

    /// The job's state as the API shows it (nil: no job ever ran).
    static func state(_ redis: RedisClient) throws(RedisError) -> JSON? {
        let replies = try redis.pipeline([["HGETALL", stateKey], ["GET", lockKey]])
        let pairs = replies[0].strings
        guard !pairs.isEmpty else { return nil }
        var fields: [String: String] = [:]
        var index = 0
        while index + 1 < pairs.count {
            fields[pairs[index]] = pairs[index + 1]
            index += 2
        }
        var state = fields["state"] ?? "failed"
        // A running job whose lock is gone or held by another job died with its host.
        if state == "running" && replies[1].string != fields["cleanup_id"] { state = "abandoned" }
        func number(_ name: String) -> JSON { .int(Int64(fields[name] ?? "") ?? 0) }
        var result: [(String, JSON)] = [
            ("cleanup_id", JSON(fields["cleanup_id"])), ("state", .string(state)), ("phase", JSON(fields["phase"])),
            ("phase_index", number("phase_index")), ("phase_count", number("phase_count")),
            ("processed", number("processed")), ("total", number("total")), ("removed", number("removed")),
            ("executed_by", JSON(fields["executed_by"])), ("manual", .bool(fields["manual"] == "1")),
            ("started_at", number("started_at")), ("updated_at", number("updated_at")),
            ("cancel_requested", .bool(fields["cancel"] == "1")),
        ]
        if let finished = fields["finished_at"] { result.append(("finished_at", .int(Int64(finished) ?? 0))) }
        if let error = fields["error"] { result.append(("error", .string(error))) }
        return .object(result)
    }

    // MARK: scripts

    /// KEYS: the lock, the state hash. ARGV: job id, now, then field/value pairs of progress.
    /// Renews the lock if this job holds it and records the progress. Returns -1 when the job
    /// lost its lock, 1 when a cancel was requested, else 0.
    static let heartbeatScript = RedisScript(
        lists: """
            if redis.call('GET', KEYS[1]) ~= ARGV[1] then return -1 end
            redis.call('EXPIRE', KEYS[1], \(lockSeconds))
            redis.call('HSET', KEYS[2], 'updated_at', ARGV[2], unpack(ARGV, 3))
            if redis.call('HGET', KEYS[2], 'cancel') == '1' then return 1 end
            return 0
            """)

    /// Deletes a lock if `owner` holds it (the job's lock, the index passes' lock).
    static let releaseScript = RedisScript(
        keys: ["lock"], arguments: ["owner"],
        """
        if redis.call('GET', KEY.lock) == ARG.owner then return redis.call('DEL', KEY.lock) end
        return 0
        """)
}
