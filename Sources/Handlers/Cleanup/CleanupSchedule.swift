import GatewayCore
import Glibc
import Logging

/// The scheduled cleanup: runs inside the workers as the system, never as an HTTP
/// caller. Every worker process may run the loop; a Redis lock lets one run per interval, and
/// the job lock (`CleanupJob`) keeps it from running while an admin's job runs.
public enum CleanupSchedule {
    /// One tick: takes `gw:cleanup:lock` for `interval` seconds and, if this process got it
    /// and no job runs, runs the cleanup job on this thread as `executed_by: "system"`,
    /// `manual: false`. Returns the cleanup id, or nil when it did not run.
    public static func tick(interval: Int64, context: Context) throws(RedisError) -> String? {
        let owner = "\(context.now)-\(Hex.encode(Crypto.randomBytes(4)))"
        guard try context.redis.string("SET", Keyspace.cleanupLock, owner, "NX", "EX", String(interval)) == "OK" else { return nil }
        guard let id = try CleanupJob.start(executedBy: "system", manual: false, redis: context.redis, now: context.now) else {
            return nil
        }
        CleanupJob.run(id: id, executedBy: "system", manual: false, context: context)
        return id
    }

    /// The loop a worker's background thread runs forever when CLEANUP_INTERVAL_SECONDS > 0.
    /// Failures (Redis down) are logged and retried at the next interval.
    public static func loop(config: Config, logger: Logger) -> Never {
        CleanupJob.lowerPriority()
        let redis = RedisClient(options: config.redis)
        let interval = config.cleanupInterval
        while true {
            let context = Context(config: config, redis: redis, logger: logger, identity: nil)
            do {
                if let id = try tick(interval: interval, context: context) {
                    logger.info("scheduled cleanup done", metadata: ["cleanup.id": "\(id)"])
                }
            } catch {
                logger.error("scheduled cleanup failed", metadata: ["error": "\(error)"])
            }
            // Ticking more often than the interval costs one SET per tick; the lock keeps runs
            // one interval apart wherever they happen.
            sleep(UInt32(clamping: min(60, max(1, interval / 10))))
        }
    }
}
