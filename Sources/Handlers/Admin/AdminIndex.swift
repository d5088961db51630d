import FCGIRuntime
import GatewayCore

/// The indexes the admin views read instead of walking the keyspace (docs/admin-indexes.md; the keys are in `Keyspace`). All
/// under the prefix `gw:idx:`, which neither the Lua gateway nor OAuth2 Proxy use; the Lua
/// gateway's own keys stay exactly as it reads and writes them.
///
/// Who keeps them: token generation and revocation (`TokenGenerator`, `TokenStore`), the
/// tracking script (`Tracking`, in the same script call that records the active user, so the
/// /v1 path gains no round trip), and the session admin's revoke, unban and delete scripts.
/// Entries outlive their data when a TTL ends or the Lua gateway changes data during a
/// migration: readers skip such entries, and the cleanup job (`CleanupJob`) prunes them and
/// adds what the Lua gateway wrote (its reconcile pass).
enum AdminIndex {
    /// Sorted set: token id → `created_at` (the admin token list, newest first).
    static let tokens = Keyspace.indexTokens
    /// Sorted set: `"{id} {email}"` → `expires_at` (counts of active and expired tokens; the
    /// cleanup finds expired ids and the `user:tokens:{email}` set that lists them).
    static let tokenExpiry = Keyspace.indexTokenExpiry
    /// Sorted set: token id → end of its `revoked:token:{id}` record (the revoked count).
    static let revoked = Keyspace.indexRevoked
    /// Sorted set: OAuth2 Proxy session key → first seen (the session list, newest first).
    static let sessions = Keyspace.indexSessions
    /// Sorted set: OAuth2 Proxy session key → when the session key expires, as last seen.
    static let sessionExpiry = Keyspace.indexSessionExpiry
    /// Hash: OAuth2 Proxy session key → owner's e-mail (the session statistics in one read).
    static let sessionOwner = Keyspace.indexSessionOwner
    /// Sorted set: e-mail → last access (active users and banned users, newest first).
    static let activeUsers = Keyspace.indexActiveUsers
    /// Sorted set: e-mail → until when the user is listed (end of `active_user:{email}` or of the ban).
    static let activeUntil = Keyspace.indexActiveUntil
    /// Sorted set: e-mail → end of the ban (`active_user_deleted:{email}`); far future without expiry.
    static let bans = Keyspace.indexBans

    /// Score of a ban without expiry.
    static let forever: Int64 = 99_999_999_999

    static func tokenExpiryMember(id: String, email: String) -> String { Keyspace.indexTokenExpiryMember(id: id, email: email) }

    /// The commands that index a token just stored (for the same MULTI as the record).
    static func addToken(id: String, email: String, createdAt: Int64, expiresAt: Int64) -> [[String]] {
        [["ZADD", tokens, String(createdAt), id], ["ZADD", tokenExpiry, String(expiresAt), tokenExpiryMember(id: id, email: email)]]
    }

    /// The commands that drop a token from the token indexes (record gone: revoked, expired).
    /// `emails`: the spellings of the `user:tokens:{email}` sets that may list it.
    static func removeToken(id: String, emails: [String]) -> [[String]] {
        [["ZREM", tokens, id], ["ZREM", tokenExpiry] + emails.map { tokenExpiryMember(id: id, email: $0) }]
    }
}

/// A position in a sorted set listed from the highest score down (ties: member, descending, the
/// order of `ZRANGE … REV`). A page starts strictly after its cursor, so an item added or
/// deleted between pages never shifts another item across a page boundary: nothing is skipped
/// or repeated, an item added before the cursor's position is not shown (it is newer), one
/// added after it is.
struct IndexCursor: Equatable {
    let score: Int64
    let member: String

    /// `<score>.<member in base64url>`: what `next_cursor` holds.
    var text: String { "\(score).\(Base64URL.encode(Array(member.utf8)))" }

    /// The `cursor` query parameter; nil when absent, 400 when not a value this API returned.
    static func parse(_ request: Request) throws(APIError) -> IndexCursor? {
        let invalid = APIError.badRequest("cursor must be a value returned as next_cursor", code: .invalidCursor)
        guard let text = request.queryValue("cursor") else {
            // Present but not decodable (bad percent-encoding) is not "absent".
            if request.query.split(separator: "&").contains(where: { $0.hasPrefix("cursor=") }) { throw invalid }
            return nil
        }
        guard !text.isEmpty else { return nil }
        let parts = text.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
        guard text.utf8.count <= 700, parts.count == 2, let score = Int64(parts[0]),
            let bytes = Base64URL.decode(parts[1]), let member = String(validating: bytes, as: UTF8.self)
        else { throw invalid }
        return IndexCursor(score: score, member: member)
    }

    /// True when (score, member) comes after this position in the listing order.
    func precedes(score other: Int64, member otherMember: String) -> Bool {
        other < score || (other == score && otherMember < member)
    }
}

/// Keyset paging over one of the `AdminIndex` sorted sets, highest score first.
struct IndexPage {
    struct Entry {
        let member: String
        let score: Int64
    }

    /// Up to `count` entries strictly after `cursor` (all from the top without one).
    static func entries(_ key: String, after cursor: IndexCursor?, count: Int, redis: RedisClient) throws(RedisError) -> [Entry] {
        var found: [Entry] = []
        var offset = 0
        let upper = cursor.map { String($0.score) } ?? "+inf"
        while found.count < count {
            let want = count - found.count
            let reply = try redis.command(
                "ZRANGE", key, upper, "-inf", "BYSCORE", "REV", "LIMIT", String(offset), String(want), "WITHSCORES")
            let values = reply.array
            var index = 0
            while index + 1 < values.count {
                defer { index += 2 }
                guard let member = values[index].string, let scoreText = values[index + 1].string,
                    let score = Int64(scoreText) ?? Double(scoreText).flatMap({ $0.isFinite ? Int64($0) : nil })
                else { continue }
                if let cursor, !cursor.precedes(score: score, member: member) { continue }  // at or before the cursor
                found.append(Entry(member: member, score: score))
            }
            offset += values.count / 2
            if values.count / 2 < want { break }  // the set has no more
        }
        return found
    }

    /// One page of exactly `limit` live items (fewer only at the end): walks the index from the
    /// cursor, asks `resolve` which entries still have their data (and what to show for
    /// them), and gives the cursor of the last item shown. Entries whose data is gone are
    /// skipped and handed to `stale` (to drop them from the index); at most `maxExamined`
    /// entries are looked at, so a page costs a bounded time even before the cleanup has
    /// pruned a large expired backlog (the page then ends early, with a cursor).
    static func page<Item>(
        _ key: String, after cursor: IndexCursor?, limit: Int, redis: RedisClient, maxExamined: Int = 20_000,
        resolve: ([Entry]) throws -> [Item?], stale: ([Entry]) throws -> Void = { _ in }
    ) throws -> (items: [Item], next: IndexCursor?) {
        var items: [Item] = []
        var position = cursor
        var examined = 0
        while true {
            let want = limit - items.count + 1  // one more than needed: tells whether more exist
            let batch = try entries(key, after: position, count: want, redis: redis)
            examined += batch.count
            let resolved = try resolve(batch)
            var gone: [Entry] = []
            var moreAfterPage = false
            for (entry, item) in zip(batch, resolved) {
                if items.count == limit {
                    moreAfterPage = true
                    break
                }
                position = IndexCursor(score: entry.score, member: entry.member)
                if let item { items.append(item) } else { gone.append(entry) }
            }
            if !gone.isEmpty { try stale(gone) }
            if batch.count < want && !moreAfterPage { return (items, nil) }  // the index ended
            if items.count == limit || examined >= maxExamined { return (items, position) }
        }
    }

    /// What an admin list route answers (`?limit=&cursor=`): the page after `cursor` of `limit`
    /// items (100 without it), and, asked with neither (the whole list, as the Lua gave it),
    /// every page after it too, 1,000 entries at a time. `resolve` and `stale` as in `page`.
    static func listing<Item>(
        _ key: String, request: Request, redis: RedisClient, resolve: ([Entry]) throws -> [Item?],
        stale: ([Entry]) throws -> Void = { _ in }
    ) throws -> (items: [Item], next: IndexCursor?) {
        let limit = try Paging.limit(request)
        let cursor = try IndexCursor.parse(request)
        var (items, next) = try page(key, after: cursor, limit: limit ?? 100, redis: redis, resolve: resolve, stale: stale)
        if limit == nil && cursor == nil {
            while let position = next {
                let (more, after) = try page(key, after: position, limit: 1000, redis: redis, resolve: resolve, stale: stale)
                items += more
                next = after
            }
        }
        return (items, next)
    }

    /// `(member, score)` pairs of a `WITHSCORES` reply.
    static func pairs(_ reply: RedisReply) -> [Entry] {
        let values = reply.array
        var result: [Entry] = []
        var index = 0
        while index + 1 < values.count {
            if let member = values[index].string,
                let score = values[index + 1].string.flatMap({ Int64($0) ?? Double($0).map { Int64($0) } })
            {
                result.append(Entry(member: member, score: score))
            }
            index += 2
        }
        return result
    }
}
