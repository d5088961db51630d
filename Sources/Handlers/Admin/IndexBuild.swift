import FCGIRuntime
import Foundation
import GatewayCore
import Glibc
import Logging

/// Builds the admin indexes and keeps them healed (docs/admin-indexes.md).
///
/// Every worker process runs `loop` on a background thread in the idle scheduling class. A
/// pass walks the keyspace once with `SCAN … MATCH` (only the first letters of the gateway's
/// prefixes come back) in batches and adds to the indexes what they lack (`IndexPass`).
/// - **Build:** when `gw:idx:version` is missing or older than `version` (a Redis the Lua
///   gateway filled, or indexes of an older layout), a pass starts at once; when it ends the
///   version is set. Until then the admin answers carry `indexing: {processed, total}`.
/// - **Reconcile:** afterwards a pass starts every `INDEX_RECONCILE_SECONDS`, so tokens, bans
///   and sessions another writer stores (the Lua gateway during a rollout, a script) reach the
///   admin views within that interval plus one pass.
/// One pass at a time across processes and hosts (`gw:idx:build:lock`, 30 s, renewed per
/// batch). The SCAN cursor and progress are stored in `gw:idx:build` after every batch: a pass
/// whose process died is continued where it stopped by the next process that takes the lock.
public enum IndexBuild {
    /// The indexes' layout version. Raise it when a change needs a new build.
    static let version = "2"
    static let lockSeconds = 30
    /// Seconds between two looks at the state (a due pass starts within this).
    static let tickSeconds: UInt32 = 2

    /// The state of the build as `GET /api/admin/...` answers show it: nil once the indexes
    /// are built, else `{processed, total}` (total: DBSIZE when the pass started, an estimate).
    static func progress(_ redis: RedisClient) throws(RedisError) -> JSON? {
        let replies = try redis.pipeline([["GET", Keyspace.indexVersion], ["HMGET", Keyspace.indexBuild, "processed", "total"]])
        guard replies[0].string != version else { return nil }
        let values = replies[1].array.map { Int64($0.string ?? "") ?? 0 }
        let processed = values.first ?? 0
        return ["processed": .int(processed), "total": .int(max(processed, values.last ?? 0))]
    }

    /// `body` with `indexing` added while the build runs.
    static func withProgress(_ body: JSON, _ redis: RedisClient) throws(RedisError) -> JSON {
        guard let progress = try progress(redis), case .object(let fields) = body else { return body }
        return .object(fields + [("indexing", progress)])
    }

    /// The background thread's loop: never returns. Redis failures are logged and retried.
    public static func loop(config: Config, logger: Logger, clock: Clock = .system) -> Never {
        CleanupJob.lowerPriority()
        let redis = RedisClient(options: config.redis)
        let owner = "\(ProcessInfo.processInfo.hostName):\(getpid()):\(Hex.encode(Crypto.randomBytes(4)))"
        while true {
            do {
                try tick(owner: owner, config: config, redis: redis, logger: logger, clock: clock)
            } catch {
                logger.error("index pass failed", metadata: ["error": "\(error)"])
            }
            sleep(tickSeconds)
        }
    }

    struct State {
        var built: Bool
        var running: Bool
        var finishedAt: Int64
    }

    static func state(_ redis: RedisClient) throws(RedisError) -> State {
        let replies = try redis.pipeline([
            ["GET", Keyspace.indexVersion], ["HMGET", Keyspace.indexBuild, "state", "finished_at", "processed", "total"],
        ])
        let fields = replies[1].array.map(\.string)
        let metrics = GatewayMetrics.shared
        let built = replies[0].string == version
        metrics.indexBuilding.set(built ? 0 : 1)
        if fields.count == 4 {
            metrics.indexProcessed.set(Int64(fields[2] ?? "") ?? 0)
            metrics.indexTotal.set(Int64(fields[3] ?? "") ?? 0)
        }
        return State(
            built: built, running: fields.first.flatMap { $0 } == "running",
            finishedAt: fields.count > 1 ? Int64(fields[1] ?? "") ?? 0 : 0)
    }

    /// Starts or continues a pass when one is due and this process gets the lock; runs it to
    /// its end. Returns true when a pass ran to its end here.
    @discardableResult
    public static func tick(owner: String, config: Config, redis: RedisClient, logger: Logger, clock: Clock) throws -> Bool {
        let current = try state(redis)
        let due = !current.built || current.running || clock.unixSeconds() - current.finishedAt >= config.indexReconcileInterval
        guard due else { return false }
        guard try redis.string("SET", Keyspace.indexBuildLock, owner, "NX", "EX", String(lockSeconds)) == "OK" else { return false }
        defer { _ = try? redis.eval(CleanupJob.releaseScript, keys: ["lock": Keyspace.indexBuildLock], arguments: ["owner": owner]) }
        let pass = IndexPass(owner: owner, config: config, redis: redis, clock: clock)
        let started = clock.monotonicMilliseconds()
        guard try pass.run(resume: current.running, building: !current.built) else { return false }
        let duration = clock.monotonicMilliseconds() - started
        if !current.built {
            logger.info(
                "admin indexes built",
                metadata: ["index.keys": "\(pass.processed)", "index.added": "\(pass.added)", "index.duration_ms": "\(duration)"])
        } else if pass.added > 0 {
            logger.info("index reconcile added entries", metadata: ["index.added": "\(pass.added)"])
        }
        _ = try state(redis)
        return true
    }
}
