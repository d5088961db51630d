import FCGIRuntime
import GatewayCore
import Glibc
import Logging

/// The job's keyspace pass (phase `keyspace`): one SCAN over the whole keyspace in batches; adds
/// what the gateway did not write itself (the Lua gateway, `redis-cli`) to the indexes and removes
/// the Lua-era leftovers the old cleanup removed.
extension CleanupRunner {
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
                if key.hasPrefix(Keyspace.userTokensPrefix) {
                    tokenSets.append(key)
                } else if key.hasPrefix(Keyspace.activeUserMetadataPrefix) {
                    metadata.append(key)
                } else if key.hasPrefix(Keyspace.banPrefix) {
                    adopt += ["ban", key]
                } else if key.hasPrefix(Keyspace.activeUserPrefix) {
                    adopt += ["active", key]
                } else if key.hasPrefix(Keyspace.revokedTokenPrefix) {
                    adopt += ["revoked", key]
                } else if OAuth2Cookie.isSessionKey(key, cookieName: cookieName) {
                    adopt += ["session", key]
                }
            }
            if !adopt.isEmpty {
                indexed +=
                    try check(try redis.eval(CleanupJob.adoptKeysScript, keyList: [], argumentList: [String(now)] + adopt)).integer ?? 0
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
            let email = String(set.dropFirst(Keyspace.userTokensPrefix.count))
            let ids = reply.strings
            var start = 0
            while start < ids.count {
                let part = Array(ids[start..<min(start + CleanupJob.batch, ids.count)])
                let results = try check(try redis.eval(CleanupJob.adoptTokensScript, keyList: [set], argumentList: [email] + part)).array
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
        let emails = keys.map { String($0.dropFirst(Keyspace.activeUserMetadataPrefix.count)) }
        let results = try check(
            try redis.eval(
                RedisCleanup.removeScript, keyList: zip(keys, emails).flatMap { [$0, Keyspace.activeUser($1)] },
                argumentList: keys.map { _ in "" })
        ).array
        for (email, result) in zip(emails, results) where (result.integer ?? 0) > 0 {
            userRemoved(email, bits: 2)
        }
    }
}
