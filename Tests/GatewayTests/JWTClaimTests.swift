import Testing

@testable import GatewayCore

/// Every claim's edge cases, one table row each: what the /v1 check accepts (and what it then
/// uses) and what it refuses with which error (docs/api.md, "JWT API tokens").
struct JWTClaimTests {
    static let secret = Array("claims-test-secret-0123456789abcdef".utf8)
    static let codec = JWTCodec(secrets: [secret], acceptedIssuers: ["llm-gateway"])
    static let now: Int64 = 1_800_000_000

    /// A token with the standard claims, `changes` applied (nil removes a claim), signed with
    /// the test secret under `header`.
    static func token(_ changes: [String: JSON?] = [:], header: String = #"{"typ":"JWT","alg":"HS256"}"#) -> String {
        var claims: [(String, JSON)] = [
            ("jti", "0b8f6d0e-3c1a-4b8e-9a51-2f6f3c9d7e10"), ("user_email", "Bob@Example.com"), ("token_name", "t"),
            ("iat", .int(now - 10)), ("nbf", .int(now - 10)), ("exp", .int(now + 600)), ("iss", "llm-gateway"),
            ("aud", "litellm-api"),
        ]
        for (name, value) in changes {
            claims.removeAll { $0.0 == name }
            if let value { claims.append((name, value)) }
        }
        let input = Base64URL.encode(Array(header.utf8)) + "." + Base64URL.encode(Array(JSON.object(claims).text.utf8))
        return input + "." + Base64URL.encode(Crypto.hmacSHA256(key: secret, message: Array(input.utf8)))
    }

    static let refused: [(String, [String: JSON?], JWTError)] = [
        ("jti missing", ["jti": nil], .invalidClaim("jti")),
        ("jti empty", ["jti": ""], .invalidClaim("jti")),
        ("jti over 128 bytes", ["jti": .string(String(repeating: "j", count: 129))], .invalidClaim("jti")),
        ("jti a number", ["jti": .int(7)], .invalidClaim("jti")),
        ("exp a string", ["exp": .string(String(now + 600))], .invalidClaim("exp")),
        ("exp missing", ["exp": nil], .invalidClaim("exp")),
        ("exp fractional, past the leeway", ["exp": .double(Double(now) - 30.5)], .expired),
        ("nbf a string", ["nbf": .string(String(now - 10))], .invalidClaim("nbf")),
        ("nbf fractional, ahead of the leeway", ["nbf": .double(Double(now) + 31.5)], .notYetValid),
        ("aud array without ours", ["aud": ["other", "another"]], .invalidClaim("aud")),
        ("aud empty array", ["aud": []], .invalidClaim("aud")),
        ("aud a number", ["aud": .int(1)], .invalidClaim("aud")),
        ("iss not a string", ["iss": .int(1)], .invalidClaim("iss")),
        ("iss empty", ["iss": ""], .invalidClaim("iss")),
        ("user_email empty", ["user_email": ""], .missingEmail),
    ]

    @Test(arguments: 0..<refused.count)
    func refusedClaims(row: Int) {
        let (name, changes, error) = JWTClaimTests.refused[row]
        #expect(throws: error, "\(name)") { try JWTClaimTests.codec.verify(JWTClaimTests.token(changes), now: JWTClaimTests.now) }
    }

    static let accepted: [(String, [String: JSON?])] = [
        ("jti of exactly 128 bytes", ["jti": .string(String(repeating: "j", count: 128))]),
        ("exp fractional, inside the leeway", ["exp": .double(Double(now) - 28.5)]),
        ("nbf fractional, inside the leeway", ["nbf": .double(Double(now) + 29.5)]),
        ("nbf absent", ["nbf": nil]),
        ("aud an array with ours", ["aud": ["other", "litellm-api"]]),
        ("aud absent (Lua-era tokens carry it, the contract does not require it)", ["aud": nil]),
        ("iss absent", ["iss": nil]),
    ]

    @Test(arguments: 0..<accepted.count)
    func acceptedClaims(row: Int) throws {
        let (name, changes) = JWTClaimTests.accepted[row]
        let verified = try JWTClaimTests.codec.verify(JWTClaimTests.token(changes), now: JWTClaimTests.now)
        #expect(verified.email == "bob@example.com", "\(name)")
    }

    @Test func fractionalExpIsTruncatedForTheRememberedExpiry() throws {
        let verified = try JWTClaimTests.codec.verify(
            JWTClaimTests.token(["exp": .double(Double(JWTClaimTests.now) + 100.9)]), now: JWTClaimTests.now)
        #expect(verified.expiresAt == JWTClaimTests.now + 100)
    }

    @Test(arguments: [
        #"{"typ":"JWS","alg":"HS256"}"#, #"{"typ":"at+jwt","alg":"HS256"}"#, #"{"typ":1,"alg":"HS256"}"#,
        #"{"typ":"","alg":"HS256"}"#,
    ])
    func typOtherThanJWTIsRefused(header: String) {
        #expect(throws: JWTError.malformed) {
            try JWTClaimTests.codec.verify(JWTClaimTests.token(header: header), now: JWTClaimTests.now)
        }
    }

    @Test(arguments: [#"{"alg":"HS256"}"#, #"{"typ":"jwt","alg":"HS256"}"#, #"{"typ":"JWT","alg":"HS256","kid":"k1"}"#])
    func typAbsentOrAnyCaseOfJWTIsAccepted(header: String) throws {
        #expect(try JWTClaimTests.codec.verify(JWTClaimTests.token(header: header), now: JWTClaimTests.now).jti.isEmpty == false)
    }

    /// RFC 7515 4.1.11: the gateway implements no extension, so every `crit` is refused,
    /// well-formed or not, before the signature is checked.
    @Test(arguments: [
        #"{"typ":"JWT","alg":"HS256","crit":["exp"]}"#, #"{"typ":"JWT","alg":"HS256","crit":["b64"],"b64":false}"#,
        #"{"alg":"HS256","crit":["x-unknown"],"x-unknown":1}"#, #"{"alg":"HS256","crit":[]}"#,
        #"{"alg":"HS256","crit":"exp"}"#, #"{"alg":"HS256","crit":null}"#, #"{"alg":"HS256","crit":[1]}"#,
        #"{"alg":"HS256","crit":{}}"#,
    ])
    func anyCritHeaderIsRefused(header: String) {
        #expect(throws: JWTError.unsupportedCritical) {
            try JWTClaimTests.codec.verify(JWTClaimTests.token(header: header), now: JWTClaimTests.now)
        }
        #expect(JWTError.unsupportedCritical.code.rawValue == "token_crit")
    }

    /// `user_email` outside ASCII keeps its bytes: never folded onto another person's address.
    @Test(arguments: ["\u{212A}ate@example.com", "\u{FF4B}ate@example.com", "b\u{0131}ll@example.com"])
    func nonASCIIEmailIsNotFolded(email: String) throws {
        let verified = try JWTClaimTests.codec.verify(
            JWTClaimTests.token(["user_email": .string(email)]), now: JWTClaimTests.now)
        #expect(verified.email == email)
        #expect(!Email.isASCII(verified.email))
    }
}
