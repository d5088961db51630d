import Foundation
import Glibc
import Logging
import Synchronization

/// Lets the /v1 check skip its Redis round trip for a token it checked a moment ago, without
/// ever missing a revocation or a ban (docs/performance.md, "Revocation watch").
///
/// One connection per worker process asks Redis for invalidation messages about every key
/// under `revoked:token:` and `active_user_deleted:` (`CLIENT TRACKING on REDIRECT <self>
/// BCAST PREFIX …`, then `SUBSCRIBE __redis__:invalidate`). Redis sends such a message when it
/// changes one of those keys, in the same event-loop turn as its answer to the writer. Every
/// message bumps `generation`; a cached "not revoked, not banned" is only used while the
/// generation it was read under is still current.
///
/// A request may use the cache only when `stamp()` says so: the connection is up, Redis
/// answered a PING within `livenessMS`, no message is waiting unread in the socket (checked
/// with a non-blocking `MSG_PEEK`) and none is being read. So a change Redis has sent is seen
/// by every later request of this process; Redis sends it in the same turn as its answer to
/// the writer, and the gateway's own revokes and bans wait for it (`awaitChange`) before they
/// answer. Anything else (Redis down,
/// slow, restarted, tracking refused by the server) turns the cache off and every request goes
/// to Redis, which fails closed as before.
public final class RevocationWatch: Sendable {
    private let options: RedisOptions
    private let logger: Logger
    private let clock: Clock
    /// How often the watch pings Redis, and how long without an answer it trusts the cache.
    let pingMS: Int64
    let livenessMS: Int64

    private let generation = Atomic<UInt64>(1)
    private let live = Atomic<Bool>(false)
    private let socket = Atomic<Int32>(-1)
    private let draining = Atomic<Bool>(false)
    private let lastHeardMS = Atomic<Int64>(0)
    /// Sentinel mode: the master epoch (`SentinelMonitor`) the subscription was made under; the
    /// watch resubscribes on the new master when it moves.
    private let subscribedEpoch = Atomic<UInt64>(0)
    /// The subscribed connection; read by the watching thread and, when a message waits and
    /// nobody else is reading, by the request thread that noticed it.
    private let connection = Mutex<HiredisContext?>(nil)

    public init(options: RedisOptions, logger: Logger, pingMS: Int64 = 100, livenessMS: Int64? = nil, clock: Clock = .system) {
        self.options = options
        self.logger = logger
        self.clock = clock
        self.pingMS = pingMS
        self.livenessMS = livenessMS ?? min(Int64(options.commandTimeoutMS), 500)
    }

    /// Starts the watching thread (it reconnects by itself).
    public func start() {
        let thread = Thread { [self] in self.loop() }
        thread.stackSize = 256 * 1024
        thread.start()
    }

    /// True while a cached decision may be used (see the type's comment for what this checks).
    public var isLive: Bool { stamp() != nil }

    /// The generation a cached decision must carry to be used now, or nil when the cache may not
    /// be used (and the caller must ask Redis). A message waiting in the socket is read here and
    /// now (unless another thread is reading), so the PING answers that arrive ten times a
    /// second do not send requests to Redis while the watching thread waits for a CPU.
    package func stamp() -> UInt64? {
        guard live.load(ordering: .sequentiallyConsistent) else { return nil }
        let fd = socket.load(ordering: .sequentiallyConsistent)
        guard fd >= 0 else { return nil }
        if RevocationWatch.hasPendingData(fd) {
            guard (try? drain(wait: false)) == true, !RevocationWatch.hasPendingData(fd) else { return nil }
        }
        guard !draining.load(ordering: .sequentiallyConsistent) else { return nil }
        guard clock.monotonicMilliseconds() - lastHeardMS.load(ordering: .sequentiallyConsistent) <= livenessMS else { return nil }
        let current = generation.load(ordering: .sequentiallyConsistent)
        guard live.load(ordering: .sequentiallyConsistent) else { return nil }
        return current
    }

    /// True when the socket has unread data, is closed, or fails: anything but "nothing yet".
    private static func hasPendingData(_ fd: Int32) -> Bool {
        var byte: UInt8 = 0
        let peeked = recv(fd, &byte, 1, Int32(MSG_PEEK | MSG_DONTWAIT))
        return !(peeked < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
    }

    /// Reads what the socket holds and handles it: any invalidation message bumps the
    /// generation. False when another thread holds the connection and `wait` is false. A failed
    /// read turns the watch off (the watching thread then reconnects).
    @discardableResult
    private func drain(wait: Bool) throws(RedisError) -> Bool {
        let body = { (context: inout HiredisContext?) throws(RedisError) -> Void in
            guard let current = context else { throw .connection("not connected") }
            // Another thread may have read it between our peek and the lock: reading an empty
            // socket would block for the command timeout.
            guard RevocationWatch.hasPendingData(current.fd) else { return }
            self.draining.store(true, ordering: .sequentiallyConsistent)
            defer { self.draining.store(false, ordering: .sequentiallyConsistent) }
            let replies: [RedisReply]
            do throws(RedisError) { replies = try current.readAvailable() } catch {
                self.turnOff()
                throw error
            }
            if !replies.isEmpty { self.lastHeardMS.store(self.clock.monotonicMilliseconds(), ordering: .sequentiallyConsistent) }
            // A change under a watched prefix (or a flush, sent with a null key list).
            if replies.contains(where: { $0.array.first?.string == "message" }) {
                self.generation.add(1, ordering: .sequentiallyConsistent)
            }
        }
        if wait {
            try connection.withLock { (context) throws(RedisError) in try body(&context) }
            return true
        }
        let done: Bool? = try connection.withLockIfAvailable { (context) throws(RedisError) -> Bool in
            try body(&context)
            return true
        }
        return done ?? false
    }

    /// The generation to store with a decision read from Redis now: read it *before* asking
    /// Redis, so that a change during the read leaves the stored decision stale. Nil when the
    /// watch is not live.
    package func generationBeforeRead() -> UInt64? {
        live.load(ordering: .sequentiallyConsistent) ? generation.load(ordering: .sequentiallyConsistent) : nil
    }

    /// After this process wrote under a watched prefix (a revocation, a ban): waits, at most
    /// `timeoutMS`, until the watch has read the invalidation. Redis writes the answer to the
    /// writer and the invalidation messages in the same turn, but not in a fixed order; after
    /// this wait every watch in the deployment has been sent the message, so the next request
    /// anywhere sees the change.
    package func awaitChange(from before: UInt64?, timeoutMS: Int64 = 200) {
        guard let before else { return }
        let deadline = clock.monotonicMilliseconds() + timeoutMS
        while generation.load(ordering: .sequentiallyConsistent) == before, live.load(ordering: .sequentiallyConsistent),
            clock.monotonicMilliseconds() < deadline
        {
            let fd = socket.load(ordering: .sequentiallyConsistent)
            if fd >= 0, RevocationWatch.hasPendingData(fd), (try? drain(wait: false)) == true { continue }
            usleep(100)
        }
    }

    // MARK: The watching thread

    private func loop() {
        var backoffMS: Int64 = 100
        var warned = false
        while true {
            do throws(RedisError) {
                try subscribe()
                if warned { logger.info("revocation watch connected") }
                warned = false
                backoffMS = 100
                try watch()
            } catch {
                turnOff()
                connection.withLock { $0 = nil }
                if !warned { logger.warning("revocation watch off; every /v1 check asks Redis", metadata: ["reason": "\(error)"]) }
                warned = true
                usleep(useconds_t(backoffMS * 1000))
                // With Sentinel a new master is usually there within seconds: look again sooner.
                backoffMS = min(backoffMS * 2, options.sentinel == nil ? 5000 : 500)
            }
        }
    }

    /// Opens the connection, turns tracking on for the prefixes and subscribes. The generation
    /// moves, so nothing remembered before (under another connection, maybe another master)
    /// is used again: whatever the watch may have missed counts as changed.
    private func subscribe() throws(RedisError) {
        subscribedEpoch.store(SentinelMonitor.current, ordering: .sequentiallyConsistent)
        let fd = try connection.withLock { (slot) throws(RedisError) -> Int32 in
            let context = try HiredisContext.open(options)
            guard let id = try context.run([["CLIENT", "ID"]])[0].integer else { throw .protocolError("unexpected CLIENT ID reply") }
            var tracking = ["CLIENT", "TRACKING", "on", "REDIRECT", String(id), "BCAST"]
            for prefix in Keyspace.watchedPrefixes { tracking += ["PREFIX", prefix] }
            let replies = try context.run([tracking, ["SUBSCRIBE", Keyspace.invalidationChannel]])
            _ = try replies[0].checked()
            guard replies[1].array.first?.string == "subscribe" else { throw .protocolError("unexpected SUBSCRIBE reply") }
            slot = context
            return context.fd
        }
        lastHeardMS.store(clock.monotonicMilliseconds(), ordering: .sequentiallyConsistent)
        generation.add(1, ordering: .sequentiallyConsistent)
        socket.store(fd, ordering: .sequentiallyConsistent)
        live.store(true, ordering: .sequentiallyConsistent)
        GatewayMetrics.shared.watchUp.set(1)
    }

    /// Reads messages and pings until the connection fails or Redis stops answering.
    private func watch() throws(RedisError) -> Never {
        var lastPing = clock.monotonicMilliseconds()
        while true {
            let fd = socket.load(ordering: .sequentiallyConsistent)
            guard fd >= 0, live.load(ordering: .sequentiallyConsistent) else { throw .connection("connection lost") }
            var descriptor = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let ready = poll(&descriptor, 1, Int32(pingMS))
            if ready < 0 && errno != EINTR { throw .connection("poll failed") }
            if ready > 0 && RevocationWatch.hasPendingData(fd) { try drain(wait: true) }
            let now = clock.monotonicMilliseconds()
            if now - lastHeardMS.load(ordering: .sequentiallyConsistent) > Int64(options.commandTimeoutMS) + pingMS {
                throw .timeout
            }
            if options.sentinel != nil, SentinelMonitor.current != subscribedEpoch.load(ordering: .sequentiallyConsistent) {
                throw .connection("the sentinels named another master")
            }
            if now - lastPing >= pingMS {
                try connection.withLock { (context) throws(RedisError) in
                    guard let context else { throw .connection("not connected") }
                    try context.send(["PING"])
                }
                lastPing = now
            }
        }
    }

    private func turnOff() {
        GatewayMetrics.shared.watchUp.set(0)
        live.store(false, ordering: .sequentiallyConsistent)
        socket.store(-1, ordering: .sequentiallyConsistent)
        generation.add(1, ordering: .sequentiallyConsistent)
    }
}
