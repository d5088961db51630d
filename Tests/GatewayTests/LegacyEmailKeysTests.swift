import Testing

@testable import GatewayCore
@testable import Handlers

/// Lua-era keys carry the e-mail's original spelling; these helpers find them.
@Suite struct LegacyEmailKeysTests {
    @Test func spellingIsNilForLowercaseAndTheTrimmedRawOtherwise() {
        #expect(Email.spelling("alice@example.com", normalized: "alice@example.com") == nil)
        #expect(Email.spelling(nil, normalized: "alice@example.com") == nil)
        #expect(Email.spelling(" Alice@Example.com ", normalized: "alice@example.com") == "Alice@Example.com")
    }

    @Test func patternMatchesEveryCaseAndEscapesGlobCharacters() {
        #expect(LegacyEmailKeys.pattern(prefix: "user:tokens:", email: "a.b@x.io") == "user:tokens:[aA].[bB]@[xX].[iI][oO]")
        #expect(
            LegacyEmailKeys.pattern(prefix: "user:tokens:", email: "a*?[]\\1@x.io")
                == "user:tokens:[aA]\\*\\?\\[\\]\\\\1@[xX].[iI][oO]")
    }

    @Test func tokensCarryTheClaimedSpellingOnlyWhenNotLowercase() throws {
        let codec = JWTCodec(secrets: [Vectors.pyjwtSecret], acceptedIssuers: ["litellm.nakacya.jp"], leeway: 30)
        let token = try codec.verify(Vectors.pyjwtHS256, now: 1_700_000_100)
        #expect(token.email == "alice@example.com")
        #expect(token.spelledEmail == "Alice@Example.com")
    }
}
