/// HS256 JSON Web Tokens (RFC 7519) as the gateway mints and checks them (docs/api.md, "API tokens").
///
/// Check order, cheapest and safest first: size, three parts, header (alg exactly HS256),
/// signature in constant time against each accepted secret, then the claims against an
/// injected `now`. Nothing from the payload is trusted before the signature matched.
public struct JWTCodec: Sendable {
    /// Secrets that verify tokens; the first one also signs (rotation: put the new secret
    /// first, keep the old ones until their tokens have expired).
    public let secrets: [[UInt8]]
    private let keys: [HMACKey]
    public let acceptedIssuers: Set<String>
    public let audience: String
    /// Clock skew tolerated on `exp` and `nbf`, in seconds.
    public let leeway: Int64
    public let maxTokenBytes: Int

    public init(
        secrets: [[UInt8]], acceptedIssuers: Set<String>, audience: String = "litellm-api", leeway: Int64 = 30, maxTokenBytes: Int = 8192
    ) {
        precondition(!secrets.isEmpty, "at least one JWT secret")
        self.secrets = secrets
        self.keys = secrets.map(HMACKey.init)
        self.acceptedIssuers = acceptedIssuers
        self.audience = audience
        self.leeway = leeway
        self.maxTokenBytes = maxTokenBytes
    }

    static let header = Base64URL.encode(Array(#"{"typ":"JWT","alg":"HS256"}"#.utf8))

    /// Signs the claims with the first secret.
    public func sign(_ claims: JSON) -> String {
        let signingInput = JWTCodec.header + "." + Base64URL.encode(Array(claims.text.utf8))
        let signature = keys[0].mac(Array(signingInput.utf8))
        return signingInput + "." + Base64URL.encode(signature)
    }

    /// Verifies a compact token and returns its claims.
    public func verify(_ token: String, now: Int64) throws(JWTError) -> VerifiedToken {
        let bytes = Array(token.utf8)
        guard bytes.count <= maxTokenBytes else { throw .tooLarge }
        let parts = bytes.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
        guard parts.count == 3, !parts[0].isEmpty, !parts[1].isEmpty else { throw .malformed }

        guard let headerBytes = Base64URL.decode(bytes: parts[0]),
            let header = try? JSON.parse(headerBytes), case .object = header
        else { throw .malformed }
        guard header["alg"]?.stringValue == "HS256" else { throw .unsupportedAlgorithm }
        if let typ = header["typ"], typ.stringValue?.uppercased() != "JWT" { throw .malformed }
        // RFC 7515 4.1.11: a `crit` names extensions the recipient must understand. The gateway
        // implements none, so any `crit` (well-formed or not, even empty) is refused.
        if header["crit"] != nil { throw .unsupportedCritical }

        guard let signature = Base64URL.decode(bytes: parts[2]), signature.count == 32 else {
            throw .badSignature
        }
        let signingInput = Array(bytes[0..<(parts[0].count + 1 + parts[1].count)])
        var matched = false
        for key in keys {
            // Every secret is tried so the time taken does not tell which one matched.
            if Crypto.constantTimeEqual(key.mac(signingInput), signature) { matched = true }
        }
        guard matched else { throw .badSignature }

        guard let payloadBytes = Base64URL.decode(bytes: parts[1]),
            let claims = try? JSON.parse(payloadBytes), case .object = claims
        else { throw .malformed }
        return try validate(claims, now: now)
    }

    func validate(_ claims: JSON, now: Int64) throws(JWTError) -> VerifiedToken {
        guard let exp = JWTCodec.seconds(claims["exp"]) else { throw .invalidClaim("exp") }
        guard now < exp + leeway else { throw .expired }
        if let nbfValue = claims["nbf"] {
            guard let nbf = JWTCodec.seconds(nbfValue) else { throw .invalidClaim("nbf") }
            guard nbf <= now + leeway else { throw .notYetValid }
        }
        if let iss = claims["iss"] {
            guard let issuer = iss.stringValue, acceptedIssuers.contains(issuer) else { throw .invalidClaim("iss") }
        }
        if let aud = claims["aud"] {
            let audiences = aud.arrayValue?.compactMap(\.stringValue) ?? aud.stringValue.map { [$0] } ?? []
            guard audiences.contains(audience) else { throw .invalidClaim("aud") }
        }
        guard let email = claims["user_email"]?.stringValue, !email.isEmpty else { throw .missingEmail }
        guard let jti = claims["jti"]?.stringValue, !jti.isEmpty, jti.utf8.count <= 128 else { throw .invalidClaim("jti") }
        let normalized = Email.normalize(email)
        return VerifiedToken(
            jti: jti, email: normalized, tokenName: claims["token_name"]?.stringValue ?? "",
            expiresAt: exp, claims: claims, spelledEmail: Email.spelling(email, normalized: normalized))
    }

    /// NumericDate: a JSON number of seconds (fractions allowed by RFC 7519, truncated).
    package static func seconds(_ value: JSON?) -> Int64? {
        switch value {
        case .int(let seconds): seconds
        case .double(let seconds) where seconds.isFinite && abs(seconds) < 1e15: Int64(seconds)
        default: nil
        }
    }
}

public struct VerifiedToken: Sendable {
    public let jti: String
    /// Lowercased: e-mails are compared case-insensitively everywhere.
    public let email: String
    public let tokenName: String
    public let expiresAt: Int64
    public let claims: JSON
    /// `user_email` as the token spells it, when that is not lowercase (tokens minted by the
    /// Lua gateway for `Alice@Example.com`): its ban key may carry that spelling. Nil usually.
    public var spelledEmail: String? = nil
}

/// Why a token was refused; `code` is stable for logs and clients.
public enum JWTError: Error, Equatable, Sendable {
    case tooLarge
    case malformed
    case unsupportedAlgorithm
    case unsupportedCritical
    case badSignature
    case expired
    case notYetValid
    case missingEmail
    case invalidClaim(String)

    public var code: ErrorCode {
        switch self {
        case .tooLarge: .tokenTooLarge
        case .malformed: .tokenMalformed
        case .unsupportedAlgorithm: .tokenAlgorithm
        case .unsupportedCritical: .tokenCrit
        case .badSignature: .tokenSignature
        case .expired: .tokenExpired
        case .notYetValid: .tokenNotYetValid
        case .missingEmail: .tokenMissingEmail
        case .invalidClaim: .tokenClaim
        }
    }

    public var message: String {
        switch self {
        case .tooLarge: "Token too large"
        case .malformed: "Malformed token"
        case .unsupportedAlgorithm: "Unsupported token algorithm (HS256 only)"
        case .unsupportedCritical: "Unsupported critical token header extension (crit)"
        case .badSignature: "Invalid token signature"
        case .expired: "Token has expired"
        case .notYetValid: "Token is not yet valid"
        case .missingEmail: "Token has no user_email"
        case .invalidClaim(let name): "Invalid token claim: \(name)"
        }
    }
}
