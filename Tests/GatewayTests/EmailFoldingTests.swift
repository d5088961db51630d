import Testing

@testable import GatewayCore

/// E-mails are lowercased in ASCII only: an address that Unicode case or compatibility folding
/// would change keeps its bytes, is not ASCII, and so is refused where identities enter
/// (IdentityPolicy), never merged with the ASCII address it folds to.
struct EmailFoldingTests {
    /// (address, the ASCII address full Unicode folding would turn it into)
    static let folding: [(String, String)] = [
        ("\u{212A}ate@example.com", "kate@example.com"),  // KELVIN SIGN
        ("\u{212B}sa@example.com", "åsa@example.com"),  // ANGSTROM SIGN
        ("\u{FF2B}ate@example.com", "kate@example.com"),  // FULLWIDTH K
        ("kate@\u{FF45}xample.com", "kate@example.com"),  // FULLWIDTH e in the domain
        ("b\u{0131}ll@example.com", "bill@example.com"),  // DOTLESS I (uppercases to I)
        ("B\u{0130}LL@example.com", "bill@example.com"),  // I WITH DOT ABOVE
        ("ro\u{017F}e@example.com", "rose@example.com"),  // LONG S
        ("\u{FB01}nn@example.com", "finn@example.com"),  // LIGATURE FI
        ("\u{1E9E}@example.com", "ss@example.com"),  // CAPITAL SHARP S
        ("kate@example.\u{217D}om", "kate@example.com"),  // ROMAN NUMERAL ONE HUNDRED
        ("\u{0391}lice@example.com", "αlice@example.com"),  // GREEK CAPITAL ALPHA
    ]

    @Test(arguments: 0..<folding.count)
    func foldingAddressesKeepTheirBytesAndAreNotASCII(row: Int) {
        let (address, _) = EmailFoldingTests.folding[row]
        #expect(Email.normalize(address) == address.lowercasedASCIIOnly)
        #expect(Email.normalize(address) != EmailFoldingTests.folding[row].1)
        #expect(!Email.isASCII(Email.normalize(address)))
        #expect(!Email.isValid(Email.normalize(address)))
        #expect(Email.isProviderAddress(address))
    }

    @Test func asciiIsLowercasedAndTrimmed() {
        #expect(Email.normalize("  Alice@Example.COM ") == "alice@example.com")
        #expect(Email.normalize("bob@example.com") == "bob@example.com")
        #expect(Email.isASCII("alice+tag@example.com"))
    }

    @Test func providerAddressShape() {
        #expect(!Email.isProviderAddress("no-at.example.com"))
        #expect(!Email.isProviderAddress("two@@example.com"))
        #expect(!Email.isProviderAddress("a b@example.com"))
        #expect(!Email.isProviderAddress("@example.com"))
        #expect(!Email.isProviderAddress("a@"))
        #expect(!Email.isProviderAddress("a\u{7F}@example.com"))
    }
}

extension String {
    /// The test's own reference: ASCII A-Z lowercased, every other byte as it is.
    fileprivate var lowercasedASCIIOnly: String {
        String(decoding: utf8.map { (0x41...0x5A).contains($0) ? $0 + 32 : $0 }, as: UTF8.self)
    }
}
