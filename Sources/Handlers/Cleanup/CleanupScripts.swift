import GatewayCore

/// The server-side scripts of the cleanup job's batches: each re-checks its condition per
/// item, so data that came back between the read and the write is left alone.
extension CleanupJob {
    /// ARGV: `"{id} {email}"` members of the token expiry index. For each whose record is gone:
    /// 0 kept (record exists), 1 dropped from the indexes only, 2 dropped and the id removed from
    /// `user:tokens:{email}`, 3 as 2 and the set is now empty.
    static let pruneTokensScript = RedisScript(
        lists: """
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
        lists: """
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
        lists: """
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
        lists: """
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
        lists: """
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
        lists: """
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
                    -- Revoked elsewhere while its record stayed: counted as revoked, not active.
                    local info = redis.call('GET', 'token:info:' .. id)
                    if info then
                      local ok, token = pcall(cjson.decode, info)
                      if ok and type(token) == 'table' and type(token.user_email) == 'string' then
                        redis.call('ZREM', '\(AdminIndex.tokenExpiry)', id .. ' ' .. token.user_email, id .. ' ' .. string.lower(token.user_email))
                      end
                    end
                    added = added + 1
                  end
                elseif kind == 'session' then
                  if not redis.call('ZSCORE', '\(AdminIndex.sessions)', key) then
                    local first = tonumber(redis.call('HGET', '\(Keyspace.sessionOwnerPrefix)' .. key, 'first_seen')) or now
                    redis.call('ZADD', '\(AdminIndex.sessions)', first, key)
                    redis.call('ZADD', '\(AdminIndex.sessionExpiry)', ends(ttl), key)
                    local email = redis.call('HGET', '\(Keyspace.sessionOwnerPrefix)' .. key, 'email')
                    if email then redis.call('HSET', '\(AdminIndex.sessionOwner)', key, email) end
                    added = added + 1
                  end
                end
              end
            end
            return added
            """)
}
