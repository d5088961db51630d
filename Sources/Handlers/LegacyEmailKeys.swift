import FCGIRuntime

/// Keys the Lua gateway wrote with an e-mail as OAuth2 Proxy or the token spelled it, capitals
/// kept (`active_user_deleted:Alice@Example.com`, `user:tokens:Alice@Example.com`). The workers
/// key everything by the lowercased e-mail; these helpers find the older spellings so that such
/// a ban still applies and such tokens are still listed and revoked (docs/migration.md).
enum LegacyEmailKeys {
    /// The e-mail as it arrived (trimmed) when it differs from the lowercased form; nil when it
    /// is already lowercase, so callers add no work for the usual case.
    static func spelling(_ raw: String?, normalized: String) -> String? {
        guard let raw, raw != normalized else { return nil }  // the usual case: no copy made
        let trimmed = raw.trimmingSpaces()
        return trimmed != normalized && !trimmed.isEmpty ? trimmed : nil
    }

    /// A Redis glob matching `prefix` followed by `email` in any letter case (`[aA]` per
    /// letter), with the glob's own characters escaped.
    static func pattern(prefix: String, email: String) -> String {
        // The prefix is matched literally; only the e-mail gets letter classes.
        return escapedLiteral(prefix) + email.map(caseless).joined()
    }

    /// Every existing key `prefix + email` in another letter case than the lowercased `email`
    /// (SCAN with `pattern`: admin operations only, never the /v1 path).
    static func otherSpellings(prefix: String, email: String, context: Context) throws(RedisError) -> [String] {
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
