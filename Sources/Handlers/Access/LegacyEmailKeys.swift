import FCGIRuntime
import GatewayCore

/// Keys the Lua gateway wrote with an e-mail as OAuth2 Proxy or the token spelled it, capitals
/// kept (`active_user_deleted:Alice@Example.com`, `user:tokens:Alice@Example.com`). The workers
/// key everything by the lowercased e-mail; these helpers find the older spellings so that such
/// a ban still applies and such tokens are still listed and revoked (docs/migration.md).
enum LegacyEmailKeys {
    /// A Redis glob matching `prefix` followed by `email` in any letter case (`[aA]` per
    /// letter), with the glob's own characters escaped.
    static func pattern(prefix: String, email: String) -> String {
        // The prefix is matched literally; only the e-mail gets letter classes.
        return escapedLiteral(prefix) + email.map(caseless).joined()
    }

    /// Every existing key `prefix + email` in another letter case than the lowercased `email`.
    /// `complete` (what takes access away or gives it back: revoke-user, unban): a SCAN with
    /// `pattern` over the whole keyspace, so a spelling written a moment ago is not missed
    /// (admin operations only, never the /v1 path). Otherwise (the admin views) one lex-range
    /// read of the index the index passes keep (`Keyspace.indexLegacyKeys`): a spelling
    /// written later shows within one reconcile interval; while the indexes are still being
    /// built, the SCAN.
    static func otherSpellings(prefix: String, email: String, complete: Bool, context: Context) throws(RedisError) -> [String] {
        guard !complete else { return try scanned(prefix: prefix, email: email, context: context) }
        let lowered = (prefix + email).lowercased()
        let replies = try context.redis.pipeline([
            ["GET", Keyspace.indexVersion],
            ["ZRANGE", Keyspace.indexLegacyKeys, "[\(lowered) ", "[\(lowered) \u{7f}", "BYLEX"],
        ])
        guard replies[0].string == IndexBuild.version else { return try scanned(prefix: prefix, email: email, context: context) }
        return replies[1].strings.compactMap { member in
            let key = String(member.dropFirst(lowered.count + 1))
            return member.hasPrefix(lowered + " ") && key != prefix + email && !key.contains(" ") ? key : nil
        }
    }

    private static func scanned(prefix: String, email: String, context: Context) throws(RedisError) -> [String] {
        try context.redis.scanAll(["SCAN"], match: pattern(prefix: prefix, email: email)).filter { $0 != prefix + email }
    }

    private static func escapedLiteral(_ text: String) -> String { text.map(escaped).joined() }

    private static func escaped(_ character: Character) -> String {
        "*?[]\\^".contains(character) ? "\\" + String(character) : String(character)
    }

    private static func caseless(_ character: Character) -> String {
        let lower = character.lowercased()
        let upper = character.uppercased()
        guard lower != upper, lower.count == 1, upper.count == 1 else { return escaped(character) }
        return "[\(lower)\(upper)]"
    }
}
