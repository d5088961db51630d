/// E-mail addresses as the gateway compares and stores them.
public enum Email {
    /// Trimmed, with ASCII `A`-`Z` lowercased and nothing else changed: the one form used in
    /// Redis keys and comparisons. Never Unicode case folding, which maps other people's
    /// addresses onto ours (`\u{212A}ate@` with a Kelvin sign would become `kate@`): an address
    /// outside ASCII keeps its bytes and is refused by `isASCII` where identities enter.
    public static func normalize(_ email: String) -> String {
        let trimmed = email.trimmingSpaces()
        guard trimmed.utf8.contains(where: isUpperASCII) else { return trimmed }
        return String(decoding: trimmed.utf8.map { isUpperASCII($0) ? $0 | 0x20 : $0 }, as: UTF8.self)
    }

    private static func isUpperASCII(_ byte: UInt8) -> Bool { (0x41...0x5A).contains(byte) }

    /// True when every byte is ASCII. The gateway accepts identities only in ASCII: every
    /// address that Unicode case or compatibility folding would change (Kelvin sign, long s,
    /// dotless i, full-width letters, ligatures) lies outside it, so no spelling of one person's
    /// address can be folded into another's (`IdentityPolicy`, 403 `identity_not_allowed`).
    public static func isASCII(_ email: String) -> Bool {
        email.utf8.allSatisfy { $0 < 0x80 }
    }

    /// What an identity provider may hand over as an e-mail (the development identity service
    /// accepts it as OAuth2 Proxy would): one `@` with text either side, at most 254 bytes, no
    /// spaces or control bytes. Unicode is allowed here on purpose; the workers decide.
    public static func isProviderAddress(_ email: String) -> Bool {
        let bytes = email.utf8
        guard bytes.count <= 254, bytes.allSatisfy({ $0 > 0x20 && $0 != 0x7F }) else { return false }
        let parts = bytes.split(separator: UInt8(ascii: "@"), omittingEmptySubsequences: false)
        return parts.count == 2 && !parts[0].isEmpty && !parts[1].isEmpty
    }

    /// The e-mail as it arrived (trimmed) when it differs from its lowercased form `normalized`;
    /// nil when it is already lowercase (the usual case, without a copy). The Lua gateway keyed
    /// Redis by this spelling (`active_user_deleted:Alice@Example.com`): see `LegacyEmailKeys`.
    public static func spelling(_ raw: String?, normalized: String) -> String? {
        guard let raw, raw != normalized else { return nil }
        let trimmed = raw.trimmingSpaces()
        return trimmed != normalized && !trimmed.isEmpty ? trimmed : nil
    }

    /// A plain, conservative address check: one `@`, a dotted domain, no spaces or controls.
    public static func isValid(_ email: String) -> Bool {
        let bytes = email.utf8
        guard bytes.count <= 254, let at = bytes.firstIndex(of: UInt8(ascii: "@")) else { return false }
        let local = bytes[..<at]
        let domain = bytes[bytes.index(after: at)...]
        guard !local.isEmpty, local.count <= 64, local.allSatisfy(isLocalByte) else { return false }
        guard domain.contains(UInt8(ascii: ".")), domain.first != UInt8(ascii: "."), domain.last != UInt8(ascii: "."),
            domain.allSatisfy(isDomainByte)
        else { return false }
        return !zip(domain, domain.dropFirst()).contains { $0 == UInt8(ascii: ".") && $1 == UInt8(ascii: ".") }
    }

    private static func isAlphanumeric(_ byte: UInt8) -> Bool {
        (0x30...0x39).contains(byte) || (0x41...0x5A).contains(byte) || (0x61...0x7A).contains(byte)
    }

    /// Letters, digits and RFC 5322's atext specials (no quoting, no `@`).
    private static let localSpecials = Array(".!#$%&'*+/=?^_`{|}~-".utf8)

    private static func isLocalByte(_ byte: UInt8) -> Bool {
        isAlphanumeric(byte) || localSpecials.contains(byte)
    }

    private static func isDomainByte(_ byte: UInt8) -> Bool {
        isAlphanumeric(byte) || byte == UInt8(ascii: ".") || byte == UInt8(ascii: "-")
    }
}
