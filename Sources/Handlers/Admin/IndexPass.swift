import FCGIRuntime
import GatewayCore
import Glibc

/// One pass of `IndexBuild`: SCAN over the keyspace in batches (resumed from the stored cursor),
/// then the two walks the SCAN cannot do (data that is gone leaves no key to find): sessions of
/// the session index OAuth2 Proxy no longer has, and members of the Lua gateway's
/// `active_users` set without an active-user key or ban. What is gone is put first in line
/// for the cleanup (index score 0); nothing is deleted here.
final class IndexPass {
    let owner: String
    let config: Config
    let redis: RedisClient
    let clock: Clock
    /// Keys per SCAN step, and items per script call.
    static let batch = 1000
    /// Pause after a batch: `restPerWork` times as long as it worked, at least 1 ms.
    static let restPerWork: Int64 = 2

    var processed: Int64 = 0
    var total: Int64 = 0
    var added: Int64 = 0
    var workStarted: Int64

    init(owner: String, config: Config, redis: RedisClient, clock: Clock) {
        self.owner = owner
        self.config = config
        self.redis = redis
        self.clock = clock
        workStarted = clock.monotonicMilliseconds()
    }

    /// A SCAN pattern that lets through only keys starting like one of the gateway's prefixes
    /// (`[auru_]*`): the unrelated keys of another application mostly stay in Redis.
    var match: String {
        let prefixes = [
            Keyspace.userTokensPrefix, Keyspace.activeUserPrefix, Keyspace.activeUserMetadataPrefix, Keyspace.banPrefix,
            Keyspace.revokedTokenPrefix, config.cookieName,
        ]
        let firsts = Set(prefixes.compactMap(\.first)).sorted()
        guard firsts.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" || $0 == ":" || $0 == "-" }) else { return "*" }
        return "[" + String(firsts).replacingOccurrences(of: "-", with: "\\-") + "]*"
    }

    /// Runs the pass to its end; false when the lock was lost (another process continues it).
    func run(resume: Bool, building: Bool) throws -> Bool {
        var cursor = "0"
        if resume {
            let fields = try redis.command("HMGET", Keyspace.indexBuild, "cursor", "processed", "total", "added").array.map(\.string)
            cursor = fields[0] ?? "0"
            processed = Int64(fields[1] ?? "") ?? 0
            total = Int64(fields[2] ?? "") ?? 0
            added = Int64(fields[3] ?? "") ?? 0
        } else {
            total = try redis.command("DBSIZE").integer ?? 0
            let now = String(clock.unixSeconds())
            _ = try redis.command(
                "HSET", Keyspace.indexBuild, "kind", building ? "build" : "reconcile", "state", "running", "cursor", "0",
                "processed", "0", "total", String(total), "added", "0", "started_at", now)
        }
        repeat {
            let page = try redis.scan(["SCAN"], cursor: cursor, match: match, count: Self.batch)
            cursor = page.cursor
            try index(page.items)
            processed = min(total, processed + Int64(Self.batch))
            guard try heartbeat(cursor: cursor) else { return false }
        } while cursor != "0"
        try markGoneSessions()
        try markGoneUsers()
        processed = total
        var finish: [[String]] = [
            [
                "HSET", Keyspace.indexBuild, "state", "done", "cursor", "0", "processed", String(total), "added", String(added),
                "finished_at", String(clock.unixSeconds()),
            ]
        ]
        if building { finish.append(["SET", Keyspace.indexVersion, IndexBuild.version]) }
        _ = try redis.transaction(finish)
        return true
    }

    /// Stores the cursor and progress, renews the lock, pauses; false when the lock is lost.
    func heartbeat(cursor: String) throws(RedisError) -> Bool {
        let reply = try redis.eval(
            IndexScripts.heartbeat, keyList: [Keyspace.indexBuildLock, Keyspace.indexBuild],
            argumentList: [owner, "cursor", cursor, "processed", String(processed), "added", String(added)])
        GatewayMetrics.shared.indexProcessed.set(processed)
        GatewayMetrics.shared.indexTotal.set(total)
        let worked = clock.monotonicMilliseconds() - workStarted
        usleep(UInt32(min(max(1000, worked * 1000 * Self.restPerWork), 100_000)))
        workStarted = clock.monotonicMilliseconds()
        return reply.integer == 1
    }

    /// Indexes one SCAN batch.
    func index(_ keys: [String]) throws {
        var sets: [String] = []
        var metadata: [String] = []
        var items: [(kind: String, name: String, keys: [String])] = []
        var legacy: [String] = []
        for key in keys {
            if key.hasPrefix(Keyspace.userTokensPrefix) {
                sets.append(key)
                if key != key.lowercased() { legacy.append(key) }
            } else if key.hasPrefix(Keyspace.activeUserMetadataPrefix) {
                metadata.append(String(key.dropFirst(Keyspace.activeUserMetadataPrefix.count)))
            } else if key.hasPrefix(Keyspace.banPrefix) {
                items.append(("ban", String(key.dropFirst(Keyspace.banPrefix.count)), [key, key]))
                if key != key.lowercased() { legacy.append(key) }
            } else if key.hasPrefix(Keyspace.activeUserPrefix) {
                let email = String(key.dropFirst(Keyspace.activeUserPrefix.count))
                items.append(("active", email, [key, Keyspace.activeUserMetadata(email)]))
            } else if key.hasPrefix(Keyspace.revokedTokenPrefix) {
                let id = String(key.dropFirst(Keyspace.revokedTokenPrefix.count))
                items.append(("revoked", id, [key, Keyspace.tokenInfo(id)]))
            } else if OAuth2Cookie.isSessionKey(key, cookieName: config.cookieName) {
                items.append(("session", key, [key, Keyspace.sessionOwner(key)]))
            }
        }
        if !legacy.isEmpty {
            _ = try redis.command(["ZADD", Keyspace.indexLegacyKeys] + legacy.flatMap { ["0", Keyspace.indexLegacyKeyMember($0)] })
        }
        if !items.isEmpty {
            let fixed = [
                AdminIndex.activeUsers, AdminIndex.activeUntil, AdminIndex.bans, AdminIndex.revoked, AdminIndex.tokenExpiry,
                AdminIndex.sessions, AdminIndex.sessionExpiry, AdminIndex.sessionOwner,
            ]
            let reply = try redis.eval(
                IndexScripts.adoptKeys, keyList: fixed + items.flatMap(\.keys),
                argumentList: [String(clock.unixSeconds())] + items.flatMap { [$0.kind, $0.name] })
            count(reply.integer ?? 0)
        }
        try mark(AdminIndex.activeUntil, metadata) { [Keyspace.activeUser($0), Keyspace.ban($0)] }
        try adoptTokenSets(sets)
    }

    func count(_ newEntries: Int64) {
        added += newEntries
        if newEntries > 0 { GatewayMetrics.shared.indexAdded.increment(by: newEntries) }
    }

    /// The ids of `user:tokens:{email}` sets, in script calls of at most `batch` ids.
    func adoptTokenSets(_ sets: [String]) throws {
        guard !sets.isEmpty else { return }
        let members = try redis.replies(sets.map { ["SMEMBERS", $0] })
        var pairs: [(set: String, id: String, email: String)] = []
        for (set, reply) in zip(sets, members) {
            guard case .array = reply else { continue }  // not a set: not ours
            let email = String(set.dropFirst(Keyspace.userTokensPrefix.count))
            pairs += reply.strings.map { (set, $0, email) }
        }
        var start = 0
        while start < pairs.count {
            let part = pairs[start..<min(start + Self.batch, pairs.count)]
            let reply = try redis.eval(
                IndexScripts.adoptTokens,
                keyList: [AdminIndex.tokens, AdminIndex.tokenExpiry] + part.flatMap { [$0.set, Keyspace.tokenInfo($0.id)] },
                argumentList: part.flatMap { [$0.id, $0.email] })
            count(reply.array.first?.integer ?? 0)
            start += Self.batch
        }
    }

    /// Marks the members of `index` neither of whose two `keys` exists.
    func mark(_ index: String, _ members: [String], keys: (String) -> [String]) throws(RedisError) {
        guard !members.isEmpty else { return }
        _ = try redis.eval(IndexScripts.markGone, keyList: [index] + members.flatMap(keys), argumentList: members)
    }

    func markGoneSessions() throws {
        var cursor = "0"
        repeat {
            let page = try redis.scan(["ZSCAN", AdminIndex.sessionExpiry], cursor: cursor, match: nil, count: Self.batch)
            cursor = page.cursor
            let keys = IndexPage.pairs(.array(page.items.map { .string($0) })).map(\.member)
            try mark(AdminIndex.sessionExpiry, keys) { [$0, $0] }
            guard try heartbeat(cursor: "0") else { return }
        } while cursor != "0"
    }

    func markGoneUsers() throws {
        var cursor = "0"
        repeat {
            let page = try redis.scan(["SSCAN", Keyspace.activeUsers], cursor: cursor, match: nil, count: Self.batch)
            cursor = page.cursor
            try mark(AdminIndex.activeUntil, page.items) { [Keyspace.activeUser($0), Keyspace.ban($0)] }
            guard try heartbeat(cursor: "0") else { return }
        } while cursor != "0"
    }
}
