import FCGIRuntime
import Foundation
import Glibc
import Logging

/// The Redis cleanup as a background job (`POST /api/admin/redis/cleanup` starts it, the
/// schedule runs it as the system). It works in bounded batches on a thread and a Redis
/// connection of its own, so no request thread waits for it and no Redis call it makes takes
/// more than a few milliseconds; it pauses between batches so /v1 traffic keeps its share.
///
/// One job at a time across every worker process and host: `gw:cleanup:job:lock` (SET NX with
/// a 30-second expiry the job renews on every batch; a job whose host dies frees it within 30
/// seconds). Progress, cancel request and outcome live in the hash `gw:cleanup:job`; the log of
/// a finished (or cancelled) job is stored like every cleanup log (`RedisCleanup.logKey`).
///
/// Phases, in order:
/// 1. `tokens`: every entry of the token expiry index whose `token:info` is gone is dropped
///    from the token indexes, and its id from the owner's `user:tokens:{email}` set (an
///    orphaned id; a set that loses its last id is an emptied set);
/// 2. `revoked`: revocations past their end leave the revoked index;
/// 3. `users`: users whose active-user key and ban are both gone leave the user indexes, with
///    their orphaned `active_user_metadata` and their `active_users` membership; the others
///    get their listing end re-read;
/// 4. `sessions`: sessions OAuth2 Proxy no longer has (expired, or ended by a sign-out the
///    gateway does not see) leave the session indexes and their owner's set;
/// 5. `keyspace` (the reconcile): one SCAN pass over the whole keyspace adds to the indexes
///    what the gateway did not write itself (the Lua gateway during a migration, `redis-cli`),
///    and removes the Lua-era leftovers the old cleanup removed: ids without a record in
///    `user:tokens:*` sets and `active_user_metadata:*` without `active_user:*`;
/// 6. `active_users_set`: members of the Lua gateway's `active_users` set without `active_user:*`.
/// Every removal re-checks its condition inside a server-side script, so data that came back
/// (a user signing in again) is left alone.
public enum CleanupJob {
    public static let stateKey = "gw:cleanup:job"
    public static let lockKey = "gw:cleanup:job:lock"
    static let lockSeconds = 30
    /// Items per Redis call; the keyspace pass reads this many keys per SCAN step.
    static let batch = 300
    /// Pause between batches: the job leaves Redis and the CPU to requests most of the time.
    static let pauseMicroseconds: UInt32 = 1000

    enum Phase: String, CaseIterable {
        case tokens, revoked, users, sessions, keyspace
        case activeUsersSet = "active_users_set"
    }

    enum StartError: Error {
        case running
        case redis(RedisError)
    }

    // MARK: starting

    /// Takes the job lock and records a new job; nil when another job holds the lock.
    public static func start(executedBy: String, manual: Bool, redis: RedisClient, now: Int64) throws(RedisError) -> String? {
        let id = "\(now)-\(Hex.encode(Crypto.randomBytes(4)))"
        let reply = try redis.command("SET", lockKey, id, "NX", "EX", String(lockSeconds))
        if case .error(let message) = reply { throw .server(message) }
        guard reply.string == "OK" else { return nil }
        let replies = try redis.transaction([
            ["DEL", stateKey],
            ["HSET", stateKey, "cleanup_id", id, "state", "running", "phase", Phase.allCases[0].rawValue, "phase_index", "1",
             "phase_count", String(Phase.allCases.count), "processed", "0", "total", "0", "removed", "0", "indexed", "0",
             "executed_by", executedBy, "manual", manual ? "1" : "0", "started_at", String(now), "updated_at", String(now)],
        ])
        for reply in replies {
            if case .error(let message) = reply { throw .server(message) }
        }
        return id
    }

    /// Starts the job on a thread of its own (a request thread returns at once).
    static func launch(id: String, executedBy: String, manual: Bool, context: Context) {
        let config = context.config
        let logger = context.logger
        Thread.detachNewThread {
            let redis = RedisClient(options: config.redis)
            run(id: id, executedBy: executedBy, manual: manual, config: config, redis: redis, logger: logger)
        }
    }

    /// Runs a started job to its end on the calling thread; never throws (a failure is recorded
    /// in the job's state and logged).
    @discardableResult
    public static func run(id: String, executedBy: String, manual: Bool, config: Config, redis: RedisClient, logger: Logger) -> JSON? {
        let runner = CleanupRunner(id: id, executedBy: executedBy, manual: manual, config: config, redis: redis, logger: logger)
        do {
            let record = try runner.execute()
            logger.info("cleanup done", metadata: ["cleanup.id": "\(id)", "cleanup.removed": "\(runner.removedTotal)"])
            return record
        } catch {
            logger.error("cleanup failed", metadata: ["cleanup.id": "\(id)", "error": "\(error)"])
            _ = try? redis.pipeline([
                ["HSET", stateKey, "state", "failed", "error", "redis_unavailable", "finished_at", String(Context.unixTime())],
            ])
            _ = try? redis.eval(releaseScript, keys: [lockKey], arguments: [id])
            return nil
        }
    }

    // MARK: reading

    /// The job's state as the API shows it (nil: no job ever ran).
    static func state(_ redis: RedisClient) throws(RedisError) -> JSON? {
        let replies = try redis.pipeline([["HGETALL", stateKey], ["GET", lockKey]])
        for reply in replies {
            if case .error(let message) = reply { throw .server(message) }
        }
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
            ("indexed", number("indexed")), ("executed_by", JSON(fields["executed_by"])), ("manual", .bool(fields["manual"] == "1")),
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
        """
        if redis.call('GET', KEYS[1]) ~= ARGV[1] then return -1 end
        redis.call('EXPIRE', KEYS[1], \(lockSeconds))
        redis.call('HSET', KEYS[2], 'updated_at', ARGV[2], unpack(ARGV, 3))
        if redis.call('HGET', KEYS[2], 'cancel') == '1' then return 1 end
        return 0
        """)

    /// KEYS: the lock. ARGV: job id. Deletes the lock if this job holds it.
    static let releaseScript = RedisScript(
        """
        if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
        return 0
        """)

    /// ARGV: `"{id} {email}"` members of the token expiry index. For each whose record is gone:
    /// 0 kept (record exists), 1 dropped from the indexes only, 2 dropped and the id removed from
    /// `user:tokens:{email}`, 3 as 2 and the set is now empty.
    static let pruneTokensScript = RedisScript(
        """
        local out = {}
        for i, member in ipairs(ARGV) do
          local space = string.find(member, ' ', 1, true)
          local result = 0
          if space then
            local id, email = string.sub(member, 1, space - 1), string.sub(member, space + 1)
            if redis.call('EXISTS', 'token:info:' .. id) == 0 then
              redis.call('ZREM', '\(AdminIndex.tokenExpiry)', member)
              redis.call('ZREM', '\(AdminIndex.tokens)', id)
              result = 1
              local set = 'user:tokens:' .. email
              if redis.call('TYPE', set).ok == 'set' and redis.call('SREM', set, id) == 1 then
                result = 2
                if redis.call('EXISTS', set) == 0 then result = 3 end
              end
            end
          end
          out[i] = result
        end
        return out
        """)

    /// ARGV: now, then token ids of the revoked index due. Drops those whose revocation ended;
    /// re-scores the others. Returns how many were dropped.
    static let pruneRevokedScript = RedisScript(
        """
        local now, dropped = tonumber(ARGV[1]), 0
        for i = 2, #ARGV do
          local ttl = redis.call('TTL', 'revoked:token:' .. ARGV[i])
          if ttl == -2 then
            dropped = dropped + redis.call('ZREM', '\(AdminIndex.revoked)', ARGV[i])
          else
            redis.call('ZADD', '\(AdminIndex.revoked)', ttl < 0 and \(AdminIndex.forever) or now + math.max(ttl, 1), ARGV[i])
          end
        end
        return dropped
        """)

    /// ARGV: now, then e-mails of the user index. For each: 0 still listed (re-scored), else
    /// a bit set: 1 dropped from the indexes, 2 orphaned metadata deleted, 4 removed from `active_users`.
    static let pruneUsersScript = RedisScript(
        """
        local now, out = tonumber(ARGV[1]), {}
        for i = 2, #ARGV do
          local email = ARGV[i]
          local active = redis.call('TTL', 'active_user:' .. email)
          local ban = redis.call('TTL', 'active_user_deleted:' .. email)
          local result = 0
          if active == -2 and ban == -2 then
            redis.call('ZREM', '\(AdminIndex.activeUsers)', email)
            redis.call('ZREM', '\(AdminIndex.activeUntil)', email)
            redis.call('ZREM', '\(AdminIndex.bans)', email)
            result = 1
            if redis.call('DEL', 'active_user_metadata:' .. email) == 1 then result = result + 2 end
            if redis.call('SREM', 'active_users', email) == 1 then result = result + 4 end
          else
            local until_ = now + math.max(active, ban, 1)
            if active == -1 or ban == -1 then until_ = \(AdminIndex.forever) end
            redis.call('ZADD', '\(AdminIndex.activeUntil)', until_, email)
            if ban == -2 then redis.call('ZREM', '\(AdminIndex.bans)', email) end
          end
          out[i - 1] = result
        end
        return out
        """)

    /// ARGV: now, then session keys of the session expiry index. Re-scores the sessions
    /// OAuth2 Proxy still has; returns the others (to be forgotten with `SessionIndex.forget`).
    static let dueSessionsScript = RedisScript(
        """
        local now, gone = tonumber(ARGV[1]), {}
        for i = 2, #ARGV do
          local ttl = redis.call('TTL', ARGV[i])
          if ttl == -2 then
            gone[#gone + 1] = ARGV[i]
          else
            redis.call('ZADD', '\(AdminIndex.sessionExpiry)', ttl < 0 and \(AdminIndex.forever) or now + math.max(ttl, 1), ARGV[i])
          end
        end
        return gone
        """)

    /// KEYS[1]: a `user:tokens:{email}` set. ARGV: the set's e-mail, then ids in it.
    /// For each id: 0 indexed already, 1 indexed now (its record exists), 2 orphaned (no record)
    /// and removed from the set, 3 as 2 and the set is now empty.
    static let adoptTokensScript = RedisScript(
        """
        local email, out = ARGV[1], {}
        for i = 2, #ARGV do
          local id = ARGV[i]
          local result = 0
          if not redis.call('ZSCORE', '\(AdminIndex.tokens)', id) then
            local info = redis.call('GET', 'token:info:' .. id)
            if info then
              local ok, token = pcall(cjson.decode, info)
              local created, expires = 0, 0
              if ok and type(token) == 'table' then
                created = math.floor(tonumber(token.created_at) or 0)
                expires = math.floor(tonumber(token.expires_at) or 0)
              end
              if expires == 0 then
                local ttl = redis.call('TTL', 'token:info:' .. id)
                expires = ttl > 0 and (redis.call('TIME')[1] + ttl) or \(AdminIndex.forever)
              end
              redis.call('ZADD', '\(AdminIndex.tokens)', created, id)
              redis.call('ZADD', '\(AdminIndex.tokenExpiry)', expires, id .. ' ' .. email)
              result = 1
            elseif redis.call('SREM', KEYS[1], id) == 1 then
              result = 2
              if redis.call('EXISTS', KEYS[1]) == 0 then result = 3 end
            end
          end
          out[i - 1] = result
        end
        return out
        """)

    /// ARGV: now, then pairs (kind, key) with kind `active`, `ban`, `revoked` or `session` and
    /// the key as found by SCAN. Adds a key the indexes lack; returns how many were added.
    static let adoptKeysScript = RedisScript(
        """
        local now, added = tonumber(ARGV[1]), 0
        local function ends(ttl) if ttl == -1 then return \(AdminIndex.forever) end return now + math.max(ttl, 1) end
        for i = 2, #ARGV, 2 do
          local kind, key = ARGV[i], ARGV[i + 1]
          local ttl = redis.call('TTL', key)
          if ttl ~= -2 then
            if kind == 'active' then
              local email = string.sub(key, #'active_user:' + 1)
              if not redis.call('ZSCORE', '\(AdminIndex.activeUntil)', email) then
                local last = now
                local meta = redis.call('GET', 'active_user_metadata:' .. email)
                if meta then
                  local ok, value = pcall(cjson.decode, meta)
                  if ok and type(value) == 'table' and tonumber(value.last_access) then last = math.floor(tonumber(value.last_access)) end
                end
                redis.call('ZADD', '\(AdminIndex.activeUsers)', last, email)
                redis.call('ZADD', '\(AdminIndex.activeUntil)', ends(ttl), email)
                added = added + 1
              end
            elseif kind == 'ban' then
              local email = string.sub(key, #'active_user_deleted:' + 1)
              if not redis.call('ZSCORE', '\(AdminIndex.bans)', email) then
                local since = tonumber(redis.call('GET', key)) or now
                redis.call('ZADD', '\(AdminIndex.bans)', ends(ttl), email)
                redis.call('ZADD', '\(AdminIndex.activeUsers)', 'NX', math.floor(since), email)
                redis.call('ZADD', '\(AdminIndex.activeUntil)', 'GT', ends(ttl), email)
                redis.call('ZADD', '\(AdminIndex.activeUntil)', 'NX', ends(ttl), email)
                added = added + 1
              end
            elseif kind == 'revoked' then
              local id = string.sub(key, #'revoked:token:' + 1)
              if not redis.call('ZSCORE', '\(AdminIndex.revoked)', id) then
                redis.call('ZADD', '\(AdminIndex.revoked)', ends(ttl), id)
                added = added + 1
              end
            elseif kind == 'session' then
              if not redis.call('ZSCORE', '\(AdminIndex.sessions)', key) then
                local first = tonumber(redis.call('HGET', '\(SessionIndex.keyPrefix)' .. key, 'first_seen')) or now
                redis.call('ZADD', '\(AdminIndex.sessions)', first, key)
                redis.call('ZADD', '\(AdminIndex.sessionExpiry)', ends(ttl), key)
                local email = redis.call('HGET', '\(SessionIndex.keyPrefix)' .. key, 'email')
                if email then redis.call('HSET', '\(AdminIndex.sessionOwner)', key, email) end
                added = added + 1
              end
            end
          end
        end
        return added
        """)
}

/// One running cleanup job: its counts, log items and progress.
final class CleanupRunner {
    let id: String
    let executedBy: String
    let manual: Bool
    let config: Config
    let redis: RedisClient
    let logger: Logger
    let started = RedisCleanup.monotonicMilliseconds()

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

    var now: Int64 { Context.unixTime() }

    func check(_ reply: RedisReply) throws(RedisError) -> RedisReply {
        if case .error(let message) = reply { throw .server(message) }
        return reply
    }

    func execute() throws -> JSON {
        total = try estimateTotal()
        do {
            for phase in CleanupJob.Phase.allCases {
                self.phase = phase
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
        } catch is Cancelled {
            cancelled = true
        }
        return try finish()
    }

    /// How many items the phases will look at, for the progress bar (the keyspace pass counts
    /// every key; the other phases the entries of their index).
    func estimateTotal() throws(RedisError) -> Int64 {
        let now = String(self.now)
        let replies = try redis.pipeline([
            ["ZCARD", AdminIndex.tokenExpiry], ["ZCOUNT", AdminIndex.revoked, "-inf", now], ["ZCARD", AdminIndex.activeUntil],
            ["ZCARD", AdminIndex.sessionExpiry], ["DBSIZE"], ["SCARD", "active_users"],
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
                CleanupJob.heartbeatScript, keys: [CleanupJob.lockKey, CleanupJob.stateKey],
                arguments: [
                    id, String(now), "phase", phase.rawValue, "phase_index", String(phaseIndex), "processed", String(min(processed, total)),
                    "total", String(total), "removed", String(removedTotal), "indexed", String(indexed),
                ]))
        switch reply.integer {
        case -1: throw LostLock()
        case 1: throw Cancelled()
        default: usleep(CleanupJob.pauseMicroseconds)
        }
    }

    func note(_ kind: String, _ item: @autoclosure () -> JSON) {
        counts[kind, default: 0] += 1
        if items.count < RedisCleanup.maxLoggedItems { items.append(item()) } else { itemsTruncated = true }
    }

    func orphanedID(_ id: String, email: String, emptied: Bool) {
        let set = TokenStore.setKey(email)
        note("orphaned_jwt_token_ids", [
            "type": "orphaned_jwt_token_id", "user_email": .string(email), "token_id": .string(id), "key": .string(set),
            "reason": "token_info_expired_and_deleted", "timestamp": .int(now),
        ])
        if emptied {
            note("empty_token_sets", [
                "type": "empty_token_set", "user_email": .string(email), "key": .string(set), "reason": "became_empty_after_cleanup",
                "timestamp": .int(now),
            ])
        }
    }

    func userRemoved(_ email: String, bits: Int64) {
        if bits & 2 != 0 {
            note("orphaned_metadata", [
                "type": "orphaned_metadata", "user_email": .string(email), "key": .string("active_user_metadata:\(email)"),
                "reason": "no_active_user", "timestamp": .int(now),
            ])
        }
        if bits & 4 != 0 {
            note("stale_active_users", [
                "type": "stale_active_user", "user_email": .string(email), "key": "active_users", "reason": "no_active_user",
                "timestamp": .int(now),
            ])
        }
    }

    // MARK: phases

    func pruneTokens() throws {
        try walk(AdminIndex.tokenExpiry) { members in
            let results = try check(try redis.eval(CleanupJob.pruneTokensScript, keys: [], arguments: members)).array
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
            let dropped = try check(try redis.eval(CleanupJob.pruneRevokedScript, keys: [], arguments: [String(now)] + ids)).integer ?? 0
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
            let results = try check(try redis.eval(CleanupJob.pruneUsersScript, keys: [], arguments: [String(now)] + emails)).array
            for (email, result) in zip(emails, results) {
                let bits = result.integer ?? 0
                if bits & 1 != 0 { indexRemoved += 1 }
                userRemoved(email, bits: bits)
            }
        }
    }

    func pruneSessions() throws {
        try walk(AdminIndex.sessionExpiry) { keys in
            let gone = try check(try redis.eval(CleanupJob.dueSessionsScript, keys: [], arguments: [String(now)] + keys)).strings
            let dropped = try SessionIndex.forget(gone, redis: redis)
            if dropped > 0 { counts["stale_sessions", default: 0] += Int(dropped) }
            for key in gone.prefix(Int(dropped)) where items.count < RedisCleanup.maxLoggedItems {
                items.append(["type": "stale_session", "key": .string(key), "reason": "session_ended", "timestamp": .int(now)])
            }
        }
    }

    func reconcileKeyspace() throws {
        let cookieName = config.cookieName
        var cursor = "0"
        repeat {
            let reply = try check(try redis.command("SCAN", cursor, "COUNT", String(CleanupJob.batch)))
            let parts = reply.array
            guard parts.count == 2, let next = parts[0].string else { throw RedisError.protocolError("unexpected SCAN reply") }
            cursor = next
            let keys = parts[1].strings
            processed += Int64(keys.count)
            var tokenSets: [String] = []
            var metadata: [String] = []
            var adopt: [String] = []
            for key in keys {
                if key.hasPrefix("user:tokens:") {
                    tokenSets.append(key)
                } else if key.hasPrefix("active_user_metadata:") {
                    metadata.append(key)
                } else if key.hasPrefix("active_user_deleted:") {
                    adopt += ["ban", key]
                } else if key.hasPrefix("active_user:") {
                    adopt += ["active", key]
                } else if key.hasPrefix("revoked:token:") {
                    adopt += ["revoked", key]
                } else if OAuth2Cookie.isSessionKey(key, cookieName: cookieName) {
                    adopt += ["session", key]
                }
            }
            if !adopt.isEmpty {
                indexed += try check(try redis.eval(CleanupJob.adoptKeysScript, keys: [], arguments: [String(now)] + adopt)).integer ?? 0
            }
            try adoptTokenSets(tokenSets)
            try removeOrphanedMetadata(metadata)
            try heartbeat()
        } while cursor != "0"
    }

    func adoptTokenSets(_ sets: [String]) throws {
        guard !sets.isEmpty else { return }
        let members = try redis.pipeline(sets.map { ["SMEMBERS", $0] })
        for (set, reply) in zip(sets, members) {
            guard case .array = reply else { continue }  // not a set: not ours to touch
            let email = String(set.dropFirst("user:tokens:".count))
            let ids = reply.strings
            var start = 0
            while start < ids.count {
                let part = Array(ids[start..<min(start + CleanupJob.batch, ids.count)])
                let results = try check(try redis.eval(CleanupJob.adoptTokensScript, keys: [set], arguments: [email] + part)).array
                for (id, result) in zip(part, results) {
                    switch result.integer ?? 0 {
                    case 1: indexed += 1
                    case 2: orphanedID(id, email: email, emptied: false)
                    case 3: orphanedID(id, email: email, emptied: true)
                    default: break
                    }
                }
                start += CleanupJob.batch
            }
        }
    }

    func removeOrphanedMetadata(_ keys: [String]) throws {
        guard !keys.isEmpty else { return }
        let emails = keys.map { String($0.dropFirst("active_user_metadata:".count)) }
        let results = try check(
            try redis.eval(
                RedisCleanup.removeScript, keys: zip(keys, emails).flatMap { [$0, "active_user:\($1)"] },
                arguments: keys.map { _ in "" })).array
        for (email, result) in zip(emails, results) where (result.integer ?? 0) > 0 {
            userRemoved(email, bits: 2)
        }
    }

    func pruneActiveUsersSet() throws {
        var cursor = "0"
        repeat {
            let reply = try check(try redis.command("SSCAN", "active_users", cursor, "COUNT", String(CleanupJob.batch)))
            let parts = reply.array
            guard parts.count == 2, let next = parts[0].string else { throw RedisError.protocolError("unexpected SSCAN reply") }
            cursor = next
            let emails = parts[1].strings
            processed += Int64(emails.count)
            if !emails.isEmpty {
                let results = try check(
                    try redis.eval(
                        RedisCleanup.removeScript, keys: emails.flatMap { ["active_users", "active_user:\($0)"] }, arguments: emails)).array
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
            ("results", [
                "orphaned_jwt_token_ids_deleted": JSON(counts["orphaned_jwt_token_ids"] ?? 0),
                "orphaned_metadata_deleted": JSON(counts["orphaned_metadata"] ?? 0),
                "empty_token_sets_deleted": JSON(counts["empty_token_sets"] ?? 0),
                "stale_active_users_removed": JSON(counts["stale_active_users"] ?? 0),
                "stale_sessions_removed": JSON(counts["stale_sessions"] ?? 0),
                "index_entries_removed": .int(indexRemoved),
                "index_entries_added": .int(indexed),
            ]),
            ("total_deleted", JSON(removed)), ("duration_ms", .int(RedisCleanup.monotonicMilliseconds() - started)),
            ("freed_memory", .string(RedisCleanup.estimatedMemory(items: removed))),
            ("cancelled", .bool(cancelled)), ("items_examined", .int(processed)),
            ("deleted_items", .array(items)),
        ]
        if itemsTruncated { record.append(("deleted_items_truncated", true)) }
        let retention = Int64(config.cleanupLogRetentionDays) * 86400
        let text = JSON.object(record).text
        _ = try redis.transaction([
            ["SET", RedisCleanup.logKey(id), text, "EX", String(retention)],
            ["ZADD", RedisCleanup.logsKey, String(now), id],
            ["ZREMRANGEBYSCORE", RedisCleanup.logsKey, "-inf", "(\(now - retention)"],
            ["HSET", CleanupJob.stateKey, "state", cancelled ? "cancelled" : "done", "finished_at", String(now),
             "processed", String(min(processed, total)), "total", String(total), "removed", String(removed), "indexed", String(indexed)],
        ])
        _ = try redis.eval(CleanupJob.releaseScript, keys: [CleanupJob.lockKey], arguments: [id])
        let context = Context(config: config, redis: redis, logger: logger, now: now, identity: executedBy == "system" ? nil : executedBy)
        Audit.record(
            "redis.cleanup", target: id,
            details: ["manual": .bool(manual), "total_deleted": JSON(removed), "cancelled": .bool(cancelled)], context: context)
        return .object(record)
    }
}
