import CHiredis
import Glibc

public struct RedisOptions: Sendable {
    public var host = "127.0.0.1"
    /// When set, connect over this unix socket instead of TCP.
    public var unixSocket: String?
    public var port: Int32 = 6379
    public var password: String?
    public var database = 0
    public var connectTimeoutMS = 1000
    public var commandTimeoutMS = 1000
    /// After a failed connect, calls fail at once for this long instead of each waiting
    /// for a connect timeout.
    public var reconnectBackoffMS = 200
    /// Sentinel mode (REDIS_SENTINELS): host and port above are ignored; the master is asked
    /// from the sentinels (RedisSentinel.swift). Nil: one Redis node, as before.
    public var sentinel: SentinelSettings?
    /// Writes the gateway confirms to a person (revocations, bans, forced logouts, token
    /// records, admin changes) wait until this many replicas have them (`WAIT`); 0: off.
    public var waitReplicas = 0
    public var waitTimeoutMS = 500

    public init() {}
}

/// Owns one hiredis context; freed in `deinit`.
final class HiredisContext {
    let raw: UnsafeMutablePointer<redisContext>

    init(options: RedisOptions) throws(RedisError) {
        var timeout = timeval(tv_sec: options.connectTimeoutMS / 1000, tv_usec: (options.connectTimeoutMS % 1000) * 1000)
        let context: UnsafeMutablePointer<redisContext>? =
            if let path = options.unixSocket {
                redisConnectUnixWithTimeout(path, timeout)
            } else {
                redisConnectWithTimeout(options.host, options.port, timeout)
            }
        guard let context else { throw .connect("cannot allocate a hiredis context") }
        if context.pointee.err != 0 {
            let reason = HiredisContext.errorString(context)
            redisFree(context)
            throw .connect(reason)
        }
        raw = context
        timeout = timeval(tv_sec: options.commandTimeoutMS / 1000, tv_usec: (options.commandTimeoutMS % 1000) * 1000)
        guard redisSetTimeout(context, timeout) == REDIS_OK else { throw .connect("cannot set the command timeout") }
    }

    deinit { redisFree(raw) }

    /// Connects to the node the options name (with Sentinel: the master the sentinels name,
    /// after checking its ROLE), then authenticates and selects the database.
    static func open(_ options: RedisOptions) throws(RedisError) -> HiredisContext {
        if let sentinel = options.sentinel { return try SentinelResolver.openMaster(options, sentinel) }
        return try openNode(options)
    }

    /// Connects to exactly the node in `options`; `requireMaster`: its ROLE must be master.
    static func openNode(_ options: RedisOptions, requireMaster: Bool = false) throws(RedisError) -> HiredisContext {
        let fresh = try HiredisContext(options: options)
        var setup: [[String]] = []
        if let password = options.password, !password.isEmpty { setup.append(["AUTH", password]) }
        if options.database != 0 { setup.append(["SELECT", String(options.database)]) }
        if requireMaster { setup.append(["ROLE"]) }
        if !setup.isEmpty {
            let replies = try fresh.run(setup)
            for reply in replies {
                if case .error(let message) = reply { throw .connect(message) }
            }
            if requireMaster, replies.last?.array.first?.string != "master" {
                let role = replies.last?.array.first?.string ?? "node of unknown role"
                throw .connect("the node the sentinels named is a \(role), not the master")
            }
        }
        return fresh
    }

    var fd: Int32 { raw.pointee.fd }

    /// Sends one command without waiting for its reply (for a subscribed connection).
    func send(_ command: [String]) throws(RedisError) {
        let appended = HiredisContext.withArgv(command) { argc, argv, lengths in redisAppendCommandArgv(raw, argc, argv, lengths) }
        guard appended == REDIS_OK else { throw failure() }
        var done: Int32 = 0
        while done == 0 {
            guard redisBufferWrite(raw, &done) == REDIS_OK else { throw failure() }
        }
    }

    /// Reads what the socket has (call when it is readable) and returns every complete reply.
    func readAvailable() throws(RedisError) -> [RedisReply] {
        guard redisBufferRead(raw) == REDIS_OK else { throw failure() }
        var replies: [RedisReply] = []
        while true {
            var reply: UnsafeMutableRawPointer?
            guard redisGetReplyFromReader(raw, &reply) == REDIS_OK else { throw failure() }
            guard let reply else { return replies }
            replies.append(HiredisContext.convert(reply.assumingMemoryBound(to: redisReply.self)))
            freeReplyObject(reply)
        }
    }

    static func errorString(_ context: UnsafeMutablePointer<redisContext>) -> String {
        withUnsafeBytes(of: context.pointee.errstr) { buffer in
            String(decoding: buffer.prefix(while: { $0 != 0 }), as: UTF8.self)
        }
    }

    /// Sends the commands in one write and reads their replies in order (pipelining).
    func run(_ commands: [[String]]) throws(RedisError) -> [RedisReply] {
        GatewayMetrics.shared.redisRoundTrips.increment()
        for command in commands {
            let appended = HiredisContext.withArgv(command) { argc, argv, lengths in
                redisAppendCommandArgv(raw, argc, argv, lengths)
            }
            guard appended == REDIS_OK else { throw failure() }
        }
        var replies: [RedisReply] = []
        replies.reserveCapacity(commands.count)
        for _ in commands {
            var reply: UnsafeMutableRawPointer?
            guard redisGetReply(raw, &reply) == REDIS_OK, let reply else { throw failure() }
            let typed = reply.assumingMemoryBound(to: redisReply.self)
            replies.append(HiredisContext.convert(typed))
            freeReplyObject(reply)
        }
        return replies
    }

    private func failure() -> RedisError {
        let code = raw.pointee.err
        let reason = HiredisContext.errorString(raw)
        if code == REDIS_ERR_IO && (errno == EAGAIN || errno == EWOULDBLOCK || reason.contains("temporarily unavailable")) {
            return .timeout
        }
        if code == REDIS_ERR_PROTOCOL { return .protocolError(reason) }
        return .connection(reason.isEmpty ? "connection closed" : reason)
    }

    private static func convert(_ reply: UnsafeMutablePointer<redisReply>) -> RedisReply {
        let node = reply.pointee
        switch node.type {
        case REDIS_REPLY_STRING, REDIS_REPLY_STATUS, REDIS_REPLY_ERROR:
            let text: String =
                if let pointer = node.str {
                    String(decoding: UnsafeRawBufferPointer(start: pointer, count: Int(node.len)), as: UTF8.self)
                } else { "" }
            return node.type == REDIS_REPLY_STRING ? .string(text) : node.type == REDIS_REPLY_STATUS ? .status(text) : .error(text)
        case REDIS_REPLY_INTEGER:
            return .integer(node.integer)
        case REDIS_REPLY_ARRAY:
            var values: [RedisReply] = []
            values.reserveCapacity(Int(node.elements))
            for index in 0..<Int(node.elements) {
                if let element = node.element[index] { values.append(convert(element)) } else { values.append(.null) }
            }
            return .array(values)
        default:
            return .null
        }
    }

    /// Lays all arguments out in one buffer and passes pointers into it (binary-safe).
    private static func withArgv<R>(
        _ arguments: [String], _ body: (Int32, UnsafeMutablePointer<UnsafePointer<CChar>?>, UnsafePointer<Int>) -> R
    ) -> R {
        var storage: [UInt8] = []
        var offsets: [Int] = []
        var lengths: [Int] = []
        for argument in arguments {
            offsets.append(storage.count)
            storage.append(contentsOf: argument.utf8)
            lengths.append(storage.count - offsets.last!)
        }
        storage.append(0)
        return storage.withUnsafeBufferPointer { buffer in
            let base = UnsafeRawPointer(buffer.baseAddress!).assumingMemoryBound(to: CChar.self)
            var argv: [UnsafePointer<CChar>?] = offsets.map { base + $0 }
            return argv.withUnsafeMutableBufferPointer { argvBuffer in
                lengths.withUnsafeBufferPointer { body(Int32(arguments.count), argvBuffer.baseAddress!, $0.baseAddress!) }
            }
        }
    }
}

/// One thread's Redis client: connects lazily, reconnects after Redis restarts, and never
/// lets a half-read reply leak into the next command (any transport failure drops the
/// connection). A command is retried once on a fresh connection after a connection error,
/// never after a timeout (Redis may still be working on it).
public final class RedisClient {
    public let options: RedisOptions
    var context: HiredisContext?
    /// Monotonic milliseconds before which a new connect is not tried (after a failed one).
    private var retryAfterMS: Int64?
    /// Sentinel mode: commands go through `pipelineFollowingMaster` (RedisSentinel.swift).
    let followsSentinel: Bool
    /// Sentinel mode: the master epoch (`SentinelMonitor`) this connection was opened under.
    var connectedEpoch: UInt64 = 0

    public init(options: RedisOptions) {
        self.options = options
        self.followsSentinel = options.sentinel != nil
    }

    /// Runs one command; a Redis error reply is thrown as `RedisError.server`.
    public func command(_ arguments: String...) throws(RedisError) -> RedisReply {
        try command(arguments)
    }

    public func command(_ arguments: [String]) throws(RedisError) -> RedisReply {
        try replies([arguments])[0].checked()
    }

    /// An integer reply (`DEL`, `EXISTS`, `SADD`, `TTL`, ...); anything else is a protocol error.
    public func integer(_ arguments: String...) throws(RedisError) -> Int64 {
        guard let value = try command(arguments).integer else { throw .protocolError("expected an integer from \(arguments[0])") }
        return value
    }

    /// A bulk string reply, nil for a missing key.
    public func string(_ arguments: String...) throws(RedisError) -> String? {
        try command(arguments).string
    }

    /// Runs the commands in one round trip and returns their replies in order; the first Redis
    /// error reply is thrown as `RedisError.server`.
    public func pipeline(_ commands: [[String]]) throws(RedisError) -> [RedisReply] {
        let replies = try replies(commands)
        for reply in replies {
            if case .error(let message) = reply { throw .server(message) }
        }
        return replies
    }

    /// As `pipeline`, but a Redis error reply stays a value (`.error`) for the caller to read,
    /// for reads that treat a key of an unexpected type as absent. Transport failures throw.
    public func replies(_ commands: [[String]]) throws(RedisError) -> [RedisReply] {
        if followsSentinel { return try pipelineFollowingMaster(commands) }
        do {
            return try connected().run(commands)
        } catch {
            GatewayMetrics.shared.recordRedisError(error)
            context = nil
            guard case .connection = error else { throw error }
            do {
                return try connected().run(commands)
            } catch {
                GatewayMetrics.shared.recordRedisError(error)
                throw error
            }
        }
    }

    /// Runs writes whose success the gateway is about to confirm to a person, as `pipeline`.
    /// With REDIS_WAIT_REPLICAS above 0, `WAIT` follows them in the same round trip, on the same
    /// connection (so it counts exactly these writes), and fewer acknowledgements than asked
    /// within REDIS_WAIT_TIMEOUT_MS throw `.notReplicated`: the caller answers with an error,
    /// never with a success that a failover could undo. Returns the commands' own replies.
    public func confirmedPipeline(_ commands: [[String]]) throws(RedisError) -> [RedisReply] {
        let replies = try confirmedReplies(commands)
        for reply in replies {
            if case .error(let message) = reply { throw .server(message) }
        }
        return replies
    }

    /// `confirmedPipeline` with error replies as values (`replies`).
    func confirmedReplies(_ commands: [[String]]) throws(RedisError) -> [RedisReply] {
        let wanted = options.waitReplicas
        guard wanted > 0 else { return try replies(commands) }
        var replies = try replies(commands + [["WAIT", String(wanted), String(options.waitTimeoutMS)]])
        let acknowledged = replies.removeLast()
        guard let count = acknowledged.integer, count >= Int64(wanted) else {
            throw .notReplicated(acknowledged: Int(acknowledged.integer ?? 0), wanted: wanted)
        }
        return replies
    }

    /// Runs the commands atomically (MULTI/EXEC) in one round trip and returns their replies.
    /// A command Redis refuses while queueing aborts the whole transaction; an error reply of
    /// a command inside it is thrown too. `confirmed`: see `confirmedPipeline`.
    @discardableResult
    public func transaction(_ commands: [[String]], confirmed: Bool = false) throws(RedisError) -> [RedisReply] {
        let all = [["MULTI"]] + commands + [["EXEC"]]
        let replies = confirmed ? try confirmedPipeline(all) : try pipeline(all)
        guard case .array(let results) = replies[replies.count - 1] else { throw .server("transaction aborted") }
        for result in results { _ = try result.checked() }
        return results
    }

    /// Runs a script with named keys and arguments, in the order the script declares them
    /// (EVALSHA, then EVAL when Redis does not know the script yet). `confirmed`: see
    /// `confirmedPipeline`.
    public func eval(
        _ script: RedisScript, keys: KeyValuePairs<String, String>, arguments: KeyValuePairs<String, String>,
        moreKeys: [String] = [], confirmed: Bool = false
    ) throws(RedisError) -> RedisReply {
        precondition(keys.count == script.keyNames.count && arguments.count == script.argumentNames.count)
        for (index, key) in keys.enumerated() { assert(key.key == script.keyNames[index], "key \(key.key)") }
        for (index, argument) in arguments.enumerated() { assert(argument.key == script.argumentNames[index], "\(argument.key)") }
        return try run(script, keys: keys.map(\.value) + moreKeys, arguments: arguments.map(\.value), confirmed: confirmed)
    }

    /// Runs a script that takes lists (`RedisScript(lists:)`): `KEYS` and `ARGV` as given.
    public func eval(
        _ script: RedisScript, keyList: [String], argumentList: [String] = [], confirmed: Bool = false
    ) throws(RedisError) -> RedisReply {
        precondition(script.takesLists)
        return try run(script, keys: keyList, arguments: argumentList, confirmed: confirmed)
    }

    private func run(_ script: RedisScript, keys: [String], arguments: [String], confirmed: Bool) throws(RedisError) -> RedisReply {
        let tail = [String(keys.count)] + keys + arguments
        let send = { (command: [String]) throws(RedisError) -> RedisReply in
            confirmed ? try self.confirmedReplies([command])[0] : try self.replies([command])[0]
        }
        let reply = try send(["EVALSHA", script.sha1] + tail)
        if case .error(let message) = reply, message.hasPrefix("NOSCRIPT") {
            return try send(["EVAL", script.source] + tail).checked()
        }
        return try reply.checked()
    }

    /// Iterates a SCAN-family cursor (`SCAN`, `SSCAN key`, ...) to the end.
    public func scanAll(_ prefix: [String], match: String? = nil, count: Int = 1000) throws(RedisError) -> [String] {
        var cursor = "0"
        var found: [String] = []
        repeat {
            let page = try scan(prefix, cursor: cursor, match: match, count: count)
            cursor = page.cursor
            found += page.items
        } while cursor != "0"
        return found
    }

    /// One SCAN-family call: the next cursor ("0" at the end) and the items of this batch.
    public func scan(_ prefix: [String], cursor: String, match: String?, count: Int) throws(RedisError) -> (cursor: String, items: [String])
    {
        var arguments = prefix + [cursor]
        if let match { arguments += ["MATCH", match] }
        arguments += ["COUNT", String(count)]
        let parts = try command(arguments).array
        guard parts.count == 2, let next = parts[0].string else { throw .protocolError("unexpected SCAN reply") }
        return (next, parts[1].strings)
    }

    func connected() throws(RedisError) -> HiredisContext {
        if let context { return context }
        let now = Clock.system.monotonicMilliseconds()
        if let retryAfterMS, now < retryAfterMS {
            throw .connect("reconnect backing off")
        }
        do throws(RedisError) {
            let fresh = try HiredisContext.open(options)
            GatewayMetrics.shared.redisConnects.increment()
            context = fresh
            retryAfterMS = nil
            return fresh
        } catch {
            retryAfterMS = now + Int64(options.reconnectBackoffMS)
            throw error
        }
    }
}
