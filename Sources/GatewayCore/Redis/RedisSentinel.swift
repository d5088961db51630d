import Foundation
import Glibc
import Synchronization

/// Redis behind Sentinel (REDIS_SENTINELS, REDIS_SENTINEL_MASTER, REDIS_SENTINEL_PASSWORD).
///
/// Every connection (one per thread, as with a single node) is opened to the master the
/// sentinels name (`SENTINEL get-master-addr-by-name`), and only after that node's `ROLE`
/// says `master`. A connection is left, and the sentinels asked again, when:
/// - it fails (the master died, or Sentinel closed it while reconfiguring the node);
/// - a reply is `-READONLY` or `-MASTERDOWN` (the node is a replica now): the commands are run
///   once more on the new master (nothing was written: a replica refuses every write);
/// - the process's `SentinelMonitor` saw the sentinels name another master (a role change
///   without a broken connection): one atomic load per call, in Sentinel mode only.
/// With a single node none of this runs: `RedisClient` takes its old path.
public struct SentinelSettings: Sendable, Equatable {
    public struct Address: Sendable, Equatable, CustomStringConvertible {
        public var host: String
        public var port: Int32
        /// A sentinel listening on a unix socket (an entry starting with `/`).
        public var unixSocket: String?

        public var description: String { unixSocket ?? "\(host):\(port)" }
    }

    public var sentinels: [Address]
    public var masterName: String
    /// Sent with AUTH to the sentinels only; the data nodes use REDIS_PASSWORD.
    public var password: String?
    /// How often each process asks the sentinels whether the master moved.
    public var pollMS: Int

    public init(sentinels: [Address], masterName: String, password: String? = nil, pollMS: Int = 1000) {
        self.sentinels = sentinels
        self.masterName = masterName
        self.password = password
        self.pollMS = pollMS
    }

    /// Parses `host:port,host:port,/path/to/sentinel.sock`; nil names the first bad entry.
    public static func parseAddresses(_ text: String) -> (addresses: [Address], bad: String?) {
        var addresses: [Address] = []
        for raw in text.split(separator: ",") {
            let entry = raw.trimmingCharacters(in: .whitespaces)
            if entry.isEmpty { continue }
            if entry.hasPrefix("/") {
                addresses.append(Address(host: "", port: 0, unixSocket: entry))
                continue
            }
            guard let colon = entry.lastIndex(of: ":"), let port = Int32(entry[entry.index(after: colon)...]),
                (1...65535).contains(port), colon != entry.startIndex
            else { return (addresses, entry) }
            var host = String(entry[..<colon])
            if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
            addresses.append(Address(host: host, port: port))
        }
        return (addresses, nil)
    }
}

/// Finds the master through the sentinels and opens a checked connection to it.
enum SentinelResolver {
    /// The sentinel that answered last is asked first next time.
    private static let preferred = Atomic<Int>(0)

    /// The master's address as the first sentinel that knows it says.
    static func masterAddress(_ options: RedisOptions, _ settings: SentinelSettings) throws(RedisError) -> (host: String, port: Int32) {
        var failures: [String] = []
        let count = settings.sentinels.count
        let first = preferred.load(ordering: .relaxed)
        for offset in 0..<count {
            let index = (first + offset) % count
            let sentinel = settings.sentinels[index]
            do throws(RedisError) {
                let context = try HiredisContext.openNode(sentinelOptions(options, settings, sentinel))
                let reply = try context.run([["SENTINEL", "get-master-addr-by-name", settings.masterName]])[0]
                let parts = reply.strings
                guard parts.count == 2, let port = Int32(parts[1]) else {
                    failures.append(reply.errorText ?? "does not know master \(settings.masterName)")
                    continue
                }
                preferred.store(index, ordering: .relaxed)
                return (parts[0], port)
            } catch {
                failures.append("\(error)")
            }
        }
        // Addresses stay out of the message: it can reach a client in a 503 body.
        throw .connect("none of the \(count) sentinels named the master (\(failures.joined(separator: "; ")))")
    }

    /// Connects to the master the sentinels name, after checking its ROLE.
    static func openMaster(_ options: RedisOptions, _ settings: SentinelSettings) throws(RedisError) -> HiredisContext {
        SentinelMonitor.startOnce(options, settings)
        let (host, port) = try masterAddress(options, settings)
        var node = options
        node.sentinel = nil
        node.unixSocket = nil
        node.host = host
        node.port = port
        return try HiredisContext.openNode(node, requireMaster: true)
    }

    private static func sentinelOptions(_ options: RedisOptions, _ settings: SentinelSettings, _ sentinel: SentinelSettings.Address)
        -> RedisOptions
    {
        var node = RedisOptions()
        node.host = sentinel.host
        node.port = sentinel.port
        node.unixSocket = sentinel.unixSocket
        node.password = settings.password
        node.connectTimeoutMS = options.connectTimeoutMS
        node.commandTimeoutMS = options.commandTimeoutMS
        return node
    }

    /// A reply saying the node is not (or no longer) a usable master.
    static func isFailoverReply(_ reply: RedisReply) -> Bool {
        switch reply {
        case .error(let message): message.hasPrefix("READONLY") || message.hasPrefix("MASTERDOWN")
        case .array(let values): values.contains(where: isFailoverReply)
        default: false
        }
    }
}

/// One thread per process that asks the sentinels every `pollMS` where the master is, and
/// moves `epoch` when the answer changes: every connection opened under an older epoch is
/// dropped at its next use (`RedisClient`, `RevocationWatch`). It starts with the first
/// Sentinel connection of the process.
enum SentinelMonitor {
    static let epoch = Atomic<UInt64>(1)
    private static let started = Mutex<Bool>(false)

    static var current: UInt64 { epoch.load(ordering: .acquiring) }

    static func startOnce(_ options: RedisOptions, _ settings: SentinelSettings) {
        let first = started.withLock { (started: inout Bool) -> Bool in
            defer { started = true }
            return !started
        }
        guard first else { return }
        let thread = Thread { loop(options, settings) }
        thread.stackSize = 256 * 1024
        thread.start()
    }

    private static func loop(_ options: RedisOptions, _ settings: SentinelSettings) {
        var known: String?
        while true {
            usleep(useconds_t(max(settings.pollMS, 10) * 1000))
            guard let (host, port) = try? SentinelResolver.masterAddress(options, settings) else { continue }
            let address = "\(host):\(port)"
            if let known, known != address { epoch.add(1, ordering: .releasing) }
            known = address
        }
    }
}

extension RedisClient {
    /// `pipeline` in Sentinel mode: see `SentinelSettings` for when the master is looked up again.
    func pipelineFollowingMaster(_ commands: [[String]]) throws(RedisError) -> [RedisReply] {
        let epoch = SentinelMonitor.current
        if context != nil, connectedEpoch != epoch { context = nil }
        var replies: [RedisReply]
        do {
            replies = try masterConnection(epoch).run(commands)
        } catch {
            context = nil
            guard case .connection = error else { throw error }
            replies = try masterConnection(epoch).run(commands)
        }
        if replies.contains(where: SentinelResolver.isFailoverReply) {
            // The node was demoted: it refused every write, so running the commands again on
            // the master the sentinels name now cannot apply anything twice.
            context = nil
            replies = try masterConnection(epoch).run(commands)
            if replies.contains(where: SentinelResolver.isFailoverReply) {
                context = nil
                throw .connection("the node the sentinels name is not accepting writes yet")
            }
        }
        return replies
    }

    private func masterConnection(_ epoch: UInt64) throws(RedisError) -> HiredisContext {
        if context == nil { connectedEpoch = epoch }
        return try connected()
    }
}

extension RedisReply {
    var errorText: String? { if case .error(let message) = self { message } else { nil } }
}
