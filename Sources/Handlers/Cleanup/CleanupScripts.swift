import GatewayCore

/// The server-side scripts of the cleanup's phases, one per kind of index entry. Each takes
/// its keys in `KEYS` from `Keyspace` (the indexes first, then the keys of each item), `ARGV`
/// starting with `dry` ("1": the preview) and `now`, then the items. Each re-checks per item
/// whether its data is gone and answers the same result in both modes: a dry run changes
/// nothing, a run removes what it reported (and re-scores what stays, so it leaves the range
/// of due entries).
extension CleanupJob {
    /// KEYS: the token index, the token expiry index, then per member: `token:info:{id}`,
    /// `user:tokens:{email}`. ARGV: dry, now, then `"{id} {email}"` members of the expiry index.
    /// Per member: 0 kept (its record exists), 1 index entries only, else 1 + the size of the
    /// set before the id leaves it (the id was listed in its owner's set).
    static let pruneTokensScript = RedisScript(
        lists: """
            local dry, now, out = ARGV[1] == '1', tonumber(ARGV[2]), {}
            for i = 3, #ARGV do
              local member = ARGV[i]
              local record, set = KEYS[2 * i - 3], KEYS[2 * i - 2]
              local space = string.find(member, ' ', 1, true) or (#member + 1)
              local id = string.sub(member, 1, space - 1)
              local ttl = redis.call('TTL', record)
              local result = 0
              if ttl ~= -2 then
                if not dry then redis.call('ZADD', KEYS[2], ttl == -1 and \(AdminIndex.forever) or now + math.max(ttl, 1), member) end
              else
                result = 1
                if redis.call('TYPE', set).ok == 'set' and redis.call('SISMEMBER', set, id) == 1 then
                  result = 1 + redis.call('SCARD', set)
                  if not dry then redis.call('SREM', set, id) end
                end
                if not dry then
                  redis.call('ZREM', KEYS[2], member)
                  redis.call('ZREM', KEYS[1], id)
                end
              end
              out[#out + 1] = result
            end
            return out
            """)

    /// One script for the entries of an index whose key tells by its TTL whether they still
    /// stand (revocations: the id's `revoked:token:{id}`; sessions: the session key itself).
    /// KEYS: the index, then per member the key that decides. ARGV: dry, now, drop ("1": gone
    /// members leave the index here; "0": the caller drops them, as `SessionIndex.forget` does
    /// with everything else a session left), then the members. Per member: 1 gone, 0 kept
    /// (re-scored to its key's end, not in a dry run).
    static let pruneByTTLScript = RedisScript(
        lists: """
            local dry, now, drop, out = ARGV[1] == '1', tonumber(ARGV[2]), ARGV[3] == '1', {}
            for i = 4, #ARGV do
              local ttl = redis.call('TTL', KEYS[i - 2])
              out[#out + 1] = ttl == -2 and 1 or 0
              if not dry then
                if ttl == -2 then
                  if drop then redis.call('ZREM', KEYS[1], ARGV[i]) end
                else
                  redis.call('ZADD', KEYS[1], ttl < 0 and \(AdminIndex.forever) or now + math.max(ttl, 1), ARGV[i])
                end
              end
            end
            return out
            """)

    /// KEYS: the indexes active users, active until, bans, the `active_users` set, then per
    /// e-mail: `active_user:{e}`, `active_user_deleted:{e}`, `active_user_metadata:{e}`.
    /// ARGV: dry, now, then e-mails due in the active-until index. Per e-mail: 0 still listed
    /// (re-scored), else bits: 1 dropped from the indexes, 2 its metadata deleted, 4 removed
    /// from `active_users`.
    static let pruneUsersScript = RedisScript(
        lists: """
            local dry, now, out = ARGV[1] == '1', tonumber(ARGV[2]), {}
            for i = 3, #ARGV do
              local email, base = ARGV[i], 3 * i - 4
              local active = redis.call('TTL', KEYS[base])
              local ban = redis.call('TTL', KEYS[base + 1])
              local result = 0
              if active == -2 and ban == -2 then
                result = 1
                if redis.call('EXISTS', KEYS[base + 2]) == 1 then result = result + 2 end
                if redis.call('SISMEMBER', KEYS[4], email) == 1 then result = result + 4 end
                if not dry then
                  redis.call('ZREM', KEYS[1], email)
                  redis.call('ZREM', KEYS[2], email)
                  redis.call('ZREM', KEYS[3], email)
                  redis.call('DEL', KEYS[base + 2])
                  redis.call('SREM', KEYS[4], email)
                end
              elseif not dry then
                local until_ = now + math.max(active, ban, 1)
                if active == -1 or ban == -1 then until_ = \(AdminIndex.forever) end
                redis.call('ZADD', KEYS[2], until_, email)
                if ban == -2 then redis.call('ZREM', KEYS[3], email) end
              end
              out[#out + 1] = result
            end
            return out
            """)
}
