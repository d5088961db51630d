import GatewayCore

/// One accept thread's memory of the tokens it let through, by the token's exact text: what
/// the signature check found (so a repeated token is not decoded and verified again; the
/// secrets are fixed for the process's life) and the generation under which Redis found it
/// neither revoked nor banned. An entry lets a call through without Redis only while that
/// generation is current and the entry is younger than the tracking interval, so each token
/// still reaches Redis (revocation, ban, tracking) at least once per interval.
final class JWTCheckCache {
    struct Entry {
        let email: String
        let expiresAt: Int64
        /// The X-Gateway-Spend-Metadata value, encoded once.
        let spendMetadata: String
        let generation: UInt64
        let checkedAt: Int64
    }

    let watch: RevocationWatch
    let maxAge: Int64
    private var entries: [String: Entry] = [:]
    /// Tests only: runs on a miss after Redis answered and before the answer is remembered, the
    /// window in which a revocation must void it (RevocationWatchTests). Always nil in the
    /// worker; costs one nil check per miss, nothing on a hit.
    var beforeRemember: (() -> Void)?
    static let maxEntries = 1024

    init(watch: RevocationWatch, maxAge: Int64) {
        self.watch = watch
        self.maxAge = maxAge
    }

    /// The remembered answer for this exact token text when it may be used now: not expired
    /// (`exp` + leeway, as the signature check would say), younger than `maxAge`, and read
    /// under the current revocation generation.
    func allowedEntry(for token: String, now: Int64, leeway: Int64) -> Entry? {
        guard let entry = entries[token], now < entry.expiresAt + leeway, now - entry.checkedAt < maxAge,
            let current = watch.stamp(), current == entry.generation
        else { return nil }
        return entry
    }

    func remember(_ entry: Entry, for token: String) {
        if entries.count >= JWTCheckCache.maxEntries { entries.removeAll(keepingCapacity: true) }
        entries[token] = entry
    }
}
