import GatewayCore
import Glibc
import Logging

/// The scheduled cleanup : runs inside the workers as the system, never as an HTTP
/// caller. Every worker process may run the loop; a Redis lock lets one run per interval.
public enum CleanupSchedule {
    /// One tick: takes `gw:cleanup:lock` for `interval` seconds and, if this process got it,
    /// runs the cleanup as `executed_by: "system"`, `manual: false`. Returns the cleanup id,
    /// or nil when another process holds the lock.
    public static func tick(interval: Int64, context: Context) throws(RedisError) -> String? {
        let owner = "\(context.now)-\(Hex.encode(Crypto.randomBytes(4)))"
        guard try context.redis.string("SET", Keyspace.cleanupLock, owner, "NX", "EX", String(interval)) == "OK" else { return nil }
        return try RedisCleanup.run(executedBy: "system", manual: false, context: context).id
    }

    /// The loop a worker's background thread runs forever when CLEANUP_INTERVAL_SECONDS > 0.
    /// Failures (Redis down) are logged and retried at the next interval.
    public static func loop(config: Config, logger: Logger) -> Never {
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
