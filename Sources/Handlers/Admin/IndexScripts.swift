import GatewayCore

/// The server-side scripts of an index pass (`IndexPass`). Every key they touch comes in
/// `KEYS` from `Keyspace` (the fixed index keys first, then the keys of each item); each
/// re-checks the data per item, so an item that changed between the SCAN and the script is
/// indexed as it is now. They only add and re-score index entries: nothing of the data is
/// deleted here (the cleanup does that, and its preview counts it first).
enum IndexScripts {
    /// KEYS: the token index, the token expiry index, then per id: its `user:tokens:{email}`
    /// set, its `token:info:{id}` record. ARGV: per id: id, the set's e-mail.
    /// A listed id with a record is indexed if it is not yet (created_at, expires_at from the
    /// record; without expires_at the record's TTL); a listed id without a record (a Lua-era
    /// leftover) is put first in line for the cleanup: expiry-index score 0.
    /// Returns {indexed, leftovers marked}.
    static let adoptTokens = RedisScript(
        lists: """
            local tokens, expiry, indexed, marked = KEYS[1], KEYS[2], 0, 0
            for i = 1, #ARGV, 2 do
              local id, email = ARGV[i], ARGV[i + 1]
              local record, member = KEYS[i + 3], ARGV[i] .. ' ' .. ARGV[i + 1]
              local info = redis.pcall('GET', record)
              if type(info) == 'string' then
                if not redis.call('ZSCORE', tokens, id) then
                  local ok, token = pcall(cjson.decode, info)
                  local created, expires = 0, 0
                  if ok and type(token) == 'table' then
                    created = math.floor(tonumber(token.created_at) or 0)
                    expires = math.floor(tonumber(token.expires_at) or 0)
                  end
                  if expires == 0 then
                    local ttl = redis.call('TTL', record)
                    expires = ttl > 0 and (tonumber(redis.call('TIME')[1]) + ttl) or \(AdminIndex.forever)
                  end
                  redis.call('ZADD', tokens, created, id)
                  redis.call('ZADD', expiry, expires, member)
                  indexed = indexed + 1
                end
              elseif info == false and redis.call('SISMEMBER', KEYS[i + 2], id) == 1 then
                redis.call('ZREM', tokens, id)
                marked = marked + redis.call('ZADD', expiry, 'LT', 'CH', 0, member)
              end
            end
            return {indexed, marked}
            """)

    /// KEYS: the indexes active users, active until, bans, revoked, token expiry, sessions,
    /// session expiry, session owner; then two keys per item: `active`: `active_user:{email}`,
    /// `active_user_metadata:{email}`; `ban`: `active_user_deleted:{email}` twice; `revoked`:
    /// `revoked:token:{id}`, `token:info:{id}`; `session`: the session key, `gw:session:{key}`.
    /// ARGV: now, then per item: kind, name (the e-mail, token id or session key).
    /// Adds an item the indexes lack; returns how many were added.
    static let adoptKeys = RedisScript(
        lists: """
            local now, added = tonumber(ARGV[1]), 0
            local users, activeUntil, bans, revoked, expiry = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
            local sessions, sessionExpiry, sessionOwner = KEYS[6], KEYS[7], KEYS[8]
            local function ends(ttl) if ttl == -1 then return \(AdminIndex.forever) end return now + math.max(ttl, 1) end
            for i = 2, #ARGV, 2 do
              local kind, name = ARGV[i], ARGV[i + 1]
              local key, other = KEYS[i + 7], KEYS[i + 8]
              local ttl = redis.call('TTL', key)
              if ttl ~= -2 then
                if kind == 'active' then
                  if not redis.call('ZSCORE', activeUntil, name) then
                    local last = now
                    local meta = redis.pcall('GET', other)
                    if type(meta) == 'string' then
                      local ok, value = pcall(cjson.decode, meta)
                      if ok and type(value) == 'table' and tonumber(value.last_access) then last = math.floor(tonumber(value.last_access)) end
                    end
                    redis.call('ZADD', users, last, name)
                    redis.call('ZADD', activeUntil, ends(ttl), name)
                    added = added + 1
                  end
                elseif kind == 'ban' then
                  if not redis.call('ZSCORE', bans, name) then
                    local since = tonumber(redis.pcall('GET', key)) or now
                    redis.call('ZADD', bans, ends(ttl), name)
                    redis.call('ZADD', users, 'NX', math.floor(since), name)
                    redis.call('ZADD', activeUntil, 'GT', ends(ttl), name)
                    redis.call('ZADD', activeUntil, 'NX', ends(ttl), name)
                    added = added + 1
                  end
                elseif kind == 'revoked' then
                  if not redis.call('ZSCORE', revoked, name) then
                    redis.call('ZADD', revoked, ends(ttl), name)
                    -- Revoked elsewhere while its record stayed: counted as revoked, not active.
                    local info = redis.pcall('GET', other)
                    if type(info) == 'string' then
                      local ok, token = pcall(cjson.decode, info)
                      if ok and type(token) == 'table' and type(token.user_email) == 'string' then
                        redis.call('ZREM', expiry, name .. ' ' .. token.user_email, name .. ' ' .. string.lower(token.user_email))
                      end
                    end
                    added = added + 1
                  end
                elseif kind == 'session' then
                  if not redis.call('ZSCORE', sessions, name) then
                    local first = tonumber(redis.call('HGET', other, 'first_seen')) or now
                    redis.call('ZADD', sessions, first, name)
                    redis.call('ZADD', sessionExpiry, ends(ttl), name)
                    local email = redis.call('HGET', other, 'email')
                    if email then redis.call('HSET', sessionOwner, name, email) end
                    added = added + 1
                  end
                end
              end
            end
            return added
            """)

    /// KEYS: a sorted-set index, then two keys per member. ARGV: the members. A member neither
    /// of whose two keys exists is put first in line for the cleanup (score 0; added if the
    /// index lacks it). Returns how many changed.
    static let markGone = RedisScript(
        lists: """
            local marked = 0
            for i = 1, #ARGV do
              if redis.call('EXISTS', KEYS[2 * i], KEYS[2 * i + 1]) == 0 then
                marked = marked + redis.call('ZADD', KEYS[1], 'LT', 'CH', 0, ARGV[i])
              end
            end
            return marked
            """)

    /// KEYS: the lock, the pass's state hash. ARGV: owner, then field/value pairs of progress.
    /// Renews the lock and records the progress if this owner holds the lock; 0 when it lost it.
    static let heartbeat = RedisScript(
        lists: """
            if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
            redis.call('EXPIRE', KEYS[1], \(IndexBuild.lockSeconds))
            redis.call('HSET', KEYS[2], unpack(ARGV, 2))
            return 1
            """)
}
