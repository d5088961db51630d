/// E-mail addresses as the gateway compares and stores them.
public enum Email {
    /// Lowercased and trimmed: the one form used in Redis keys and comparisons.
    public static func normalize(_ email: String) -> String {
        email.trimmingSpaces().lowercased()
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
