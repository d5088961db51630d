import Testing

@testable import GatewayCore
@testable import Handlers

/// Fixed vectors, each with its source.
enum Vectors {
    /// RFC 7515 appendix A.1 (JWS using HMAC SHA-256): key, token.
    static let rfc7515Key = Base64URL.decode("AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow")!
    static let rfc7515Token =
        "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ.dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"

    /// Made with PyJWT 2.15.1: jwt.encode(claims, secret, "HS256") with the claims of SPEC
    /// section 3 and the Lua gateway's issuer; the same claims signed with HS512.
    static let pyjwtSecret = Array("pyjwt-test-secret-0123456789abcdef0123456789".utf8)
    static let pyjwtHS256 =
        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJqdGkiOiI1ZjBjN2E1Mi0yZjBlLTRhOGUtOWE0My0zYzFmMWQxZTJiN2EiLCJ1c2VyX2VtYWlsIjoiQWxpY2VARXhhbXBsZS5jb20iLCJ1c2VyX2lkIjoiQWxpY2VARXhhbXBsZS5jb20iLCJ0b2tlbl9uYW1lIjoibGVnYWN5Iiwic2NvcGVzIjpbImFwaTpyZWFkIiwiYXBpOndyaXRlIl0sImlhdCI6MTcwMDAwMDAwMCwibmJmIjoxNzAwMDAwMDAwLCJleHAiOjQxMDI0NDQ4MDAsImlzcyI6ImxpdGVsbG0ubmFrYWN5YS5qcCIsImF1ZCI6ImxpdGVsbG0tYXBpIn0.FXiAsP7nnVHfkClOT-NQm9Cbk9KtVhGnpf-s5VKKTO8"
    static let pyjwtHS512 =
        "eyJhbGciOiJIUzUxMiIsInR5cCI6IkpXVCJ9.eyJqdGkiOiI1ZjBjN2E1Mi0yZjBlLTRhOGUtOWE0My0zYzFmMWQxZTJiN2EiLCJ1c2VyX2VtYWlsIjoiQWxpY2VARXhhbXBsZS5jb20iLCJ1c2VyX2lkIjoiQWxpY2VARXhhbXBsZS5jb20iLCJ0b2tlbl9uYW1lIjoibGVnYWN5Iiwic2NvcGVzIjpbImFwaTpyZWFkIiwiYXBpOndyaXRlIl0sImlhdCI6MTcwMDAwMDAwMCwibmJmIjoxNzAwMDAwMDAwLCJleHAiOjQxMDI0NDQ4MDAsImlzcyI6ImxpdGVsbG0ubmFrYWN5YS5qcCIsImF1ZCI6ImxpdGVsbG0tYXBpIn0.bCwNAQTX0fPNd73_b-l2_7ncrNQ2m9LuPa8vtkXU1bIqqZAb9aTRAfgV-2-idy_xwdQ6sTXCMOyAwTtkADELYQ"
}

struct JWTTests {
    let codec = JWTCodec(secrets: [Vectors.pyjwtSecret], acceptedIssuers: ["llm-gateway", "litellm.nakacya.jp"])
    let now: Int64 = 1_800_000_000

    @Test func rfc7515ExampleSignatureVerifies() throws {
        // The RFC's token has no user_email: getting past the signature, exp and iss checks
        // to the e-mail check proves the HMAC matched.
        let rfc = JWTCodec(secrets: [Vectors.rfc7515Key], acceptedIssuers: ["joe"])
        #expect(throws: JWTError.missingEmail) { try rfc.verify(Vectors.rfc7515Token, now: 1_300_819_000) }
        var tampered = Array(Vectors.rfc7515Token)
        tampered[tampered.count - 2] = tampered[tampered.count - 2] == "X" ? "Y" : "X"
        #expect(throws: JWTError.badSignature) { try rfc.verify(String(tampered), now: 1_300_819_000) }
        #expect(throws: JWTError.expired) { try rfc.verify(Vectors.rfc7515Token, now: 1_300_819_380 + 31) }
    }

    @Test func pyjwtTokenVerifiesWithLowercasedEmail() throws {
        let token = try codec.verify(Vectors.pyjwtHS256, now: now)
        #expect(token.email == "alice@example.com")
        #expect(token.jti == "5f0c7a52-2f0e-4a8e-9a43-3c1f1d1e2b7a")
        #expect(token.tokenName == "legacy")
        #expect(token.expiresAt == 4_102_444_800)
    }

    @Test func otherAlgorithmsAreRefused() {
        #expect(throws: JWTError.unsupportedAlgorithm) { try codec.verify(Vectors.pyjwtHS512, now: now) }
        let payload = Vectors.pyjwtHS256.split(separator: ".")[1]
        let none = Base64URL.encode(Array(#"{"alg":"none","typ":"JWT"}"#.utf8)) + "." + payload + "."
        #expect(throws: JWTError.unsupportedAlgorithm) { try codec.verify(none, now: now) }
        let rs256 = Base64URL.encode(Array(#"{"alg":"RS256","typ":"JWT"}"#.utf8)) + "." + payload + ".c2ln"
        #expect(throws: JWTError.unsupportedAlgorithm) { try codec.verify(rs256, now: now) }
        let lowercase = Base64URL.encode(Array(#"{"alg":"hs256"}"#.utf8)) + "." + payload + ".c2ln"
        #expect(throws: JWTError.unsupportedAlgorithm) { try codec.verify(lowercase, now: now) }
    }

    @Test func tamperedPayloadIsRefused() {
        let parts = Vectors.pyjwtHS256.split(separator: ".").map(String.init)
        let forged = Base64URL.encode(Array(#"{"user_email":"root@example.com","exp":4102444800,"jti":"x"}"#.utf8))
        #expect(throws: JWTError.badSignature) { try codec.verify(parts[0] + "." + forged + "." + parts[2], now: now) }
    }

    @Test func wrongSecretIsRefused() {
        let other = JWTCodec(secrets: [Array("another-secret-another-secret-000000".utf8)], acceptedIssuers: ["litellm.nakacya.jp"])
        #expect(throws: JWTError.badSignature) { try other.verify(Vectors.pyjwtHS256, now: now) }
    }

    @Test func rotationVerifiesWithPreviousSecretsAndSignsWithTheFirst() throws {
        let rotated = JWTCodec(
            secrets: [Array("the-new-secret-the-new-secret-0000".utf8), Vectors.pyjwtSecret],
            acceptedIssuers: ["litellm.nakacya.jp", "llm-gateway"])
        #expect(try rotated.verify(Vectors.pyjwtHS256, now: now).email == "alice@example.com")
        let fresh = rotated.sign(claims(exp: now + 60))
        #expect(throws: JWTError.badSignature) { try codec.verify(fresh, now: now) }
        #expect(try rotated.verify(fresh, now: now).jti == "j1")
    }

    func claims(exp: Int64, nbf: Int64? = nil, email: String? = "bob@example.com", iss: String = "llm-gateway") -> JSON {
        var fields: [(String, JSON)] = [("jti", "j1"), ("exp", .int(exp)), ("iss", .string(iss)), ("aud", "litellm-api")]
        if let email { fields.append(("user_email", .string(email))) }
        if let nbf { fields.append(("nbf", .int(nbf))) }
        return .object(fields)
    }

    @Test func timeClaimsUseTheLeeway() throws {
        #expect(throws: JWTError.expired) { try codec.verify(codec.sign(claims(exp: now - 31)), now: now) }
        #expect(try codec.verify(codec.sign(claims(exp: now - 29)), now: now).email == "bob@example.com")
        #expect(throws: JWTError.notYetValid) { try codec.verify(codec.sign(claims(exp: now + 600, nbf: now + 31)), now: now) }
        #expect(try codec.verify(codec.sign(claims(exp: now + 600, nbf: now + 29)), now: now).jti == "j1")
    }

    @Test func missingEmailUnknownIssuerAndWrongAudienceAreRefused() {
        #expect(throws: JWTError.missingEmail) { try codec.verify(codec.sign(claims(exp: now + 60, email: nil)), now: now) }
        #expect(throws: JWTError.invalidClaim("iss")) { try codec.verify(codec.sign(claims(exp: now + 60, iss: "evil")), now: now) }
        let wrongAudience: JSON = ["jti": "j", "exp": .int(now + 60), "user_email": "a@b.co", "aud": "other"]
        #expect(throws: JWTError.invalidClaim("aud")) { try codec.verify(codec.sign(wrongAudience), now: now) }
        let noExpiry: JSON = ["jti": "j", "user_email": "a@b.co"]
        #expect(throws: JWTError.invalidClaim("exp")) { try codec.verify(codec.sign(noExpiry), now: now) }
    }

    @Test(arguments: [
        "", "a", "a.b", "a.b.c.d", "..", "!!!.###.$$$", "eyJhbGciOiJIUzI1NiJ9..sig", "bm90IGpzb24.eyJ9.c2ln",
        "eyJhbGciOiJIUzI1NiJ9.bm90IGpzb24." + Base64URL.encode([UInt8](repeating: 1, count: 32)),
    ])
    func malformedTokensAreRefused(token: String) {
        #expect(throws: JWTError.self) { try codec.verify(token, now: now) }
    }

    @Test func malformedPayloadAfterValidSignatureIsMalformed() {
        let input = Base64URL.encode(Array(#"{"alg":"HS256"}"#.utf8)) + "." + Base64URL.encode(Array("not json".utf8))
        let signature = Crypto.hmacSHA256(key: Vectors.pyjwtSecret, message: Array(input.utf8))
        #expect(throws: JWTError.malformed) { try codec.verify(input + "." + Base64URL.encode(signature), now: now) }
    }

    @Test func oversizeTokenIsRefusedBeforeAnyWork() {
        let huge = String(repeating: "a", count: 9000) + ".b.c"
        #expect(throws: JWTError.tooLarge) { try codec.verify(huge, now: now) }
    }
}

struct Base64URLTests {
    @Test func roundTripsAndRefusesOtherAlphabets() {
        for count in 0..<40 {
            let bytes = (0..<count).map { UInt8(truncatingIfNeeded: $0 * 37 + 11) }
            #expect(Base64URL.decode(Base64URL.encode(bytes)) == bytes)
            #expect(Base64URL.decode(Base64URL.encode(bytes, padded: true)) == bytes)
        }
        #expect(Base64URL.decode("a+b/") == nil)
        #expect(Base64URL.decode("abcde") == nil)
        #expect(Base64URL.decode("QR") == nil)  // non-zero leftover bits: not a canonical encoding
        #expect(Base64URL.decode("QQ") == [0x41])
    }
}

struct HMACTests {
    /// RFC 4231 test cases 1, 2 and 6 (key longer than the block size).
    @Test func rfc4231Vectors() {
        let cases: [([UInt8], [UInt8], String)] = [
            (
                [UInt8](repeating: 0x0b, count: 20), Array("Hi There".utf8),
                "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"
            ),
            (
                Array("Jefe".utf8), Array("what do ya want for nothing?".utf8),
                "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
            ),
            (
                [UInt8](repeating: 0xaa, count: 131), Array("Test Using Larger Than Block-Size Key - Hash Key First".utf8),
                "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
            ),
        ]
        for (key, message, expected) in cases {
            #expect(Hex.encode(HMACKey(key).mac(message)) == expected)
            #expect(Hex.encode(Crypto.hmacSHA256(key: key, message: message)) == expected)
        }
    }
}
