import FCGIRuntime
import GatewayCore

/// Replaces `jwt_validator.lua` + `auth_handler.lua`: the access check of every /v1 call
/// (docs/api.md, "/v1"; docs/clients.md: the token is sent as `Authorization: Bearer` or
/// `x-api-key`).
///
/// Allowed: a 200 with the headers nginx applies to the /v1 request (`auth_request_set`): the shared
/// LiteLLM key, the caller's e-mail as end user, and the spend-log metadata. nginx replays
/// the original request (method, query, body) to LiteLLM; the body is never parsed here.
/// Denied: 401 (bad token, revoked, banned) or 503 (Redis down: fail closed), as OpenAI-style JSON.
enum JWTAccess {
    /// A /v1 path outside the route allow-list (`V1RouteList`, V1_ROUTES): 404 before any
    /// token work, whoever asks.
    static let routeNotAllowed = APIError.openAI(
        404, type: "invalid_request_error", code: .routeNotAllowed,
        message: "This API route is not available through the gateway")

    /// Who a token lets through, however the check found it (remembered or read from Redis):
    /// the only input of the one exit, `allowed(_:request:context:)`.
    struct Pass {
        let email: String
        /// The X-Gateway-Spend-Metadata value.
        let spendMetadata: String
    }

    static func check(_ request: Request, _ context: Context) throws -> Response {
        guard context.config.v1Routes.allows(request.path) else { throw routeNotAllowed }
        let pass = try tokenPass(request, context)
        return try allowed(pass, request: request, context: context)
    }

    /// The token's pass: the remembered answer for a token let through within the tracking
    /// interval (`JWTCheckCache`), else the signature check and one Redis script (revocation,
    /// ban, tracking). Throws every refusal; answers nothing itself.
    static func tokenPass(_ request: Request, _ context: Context) throws -> Pass {
        let text = try presentedToken(request)
        let cache = context.jwtCache
        if let hit = cache?.allowedEntry(for: text, now: context.now, leeway: context.config.jwt.leeway) {
            GatewayMetrics.shared.watchHits.increment()
            return Pass(email: hit.email, spendMetadata: hit.spendMetadata)
        }

        let token: VerifiedToken
        do {
            token = try context.config.jwt.verify(text, now: context.now)
        } catch {
            context.logger.info("token refused", metadata: ["reason": "\(error.code.rawValue)"])
            throw denied("Invalid or expired token: \(error.message)", code: error.code)
        }
        guard Email.isASCII(token.email) else {
            IdentityPolicy.audit(token.email, source: "jwt", context: context)
            throw IdentityPolicy.v1Refusal
        }
        guard Email.isValid(token.email) else { throw denied("Invalid token claim: user_email", code: .tokenClaim) }

        let outcome: Tracking.Outcome
        // Read before asking Redis: a change during the read leaves the remembered answer stale.
        let generation = cache?.watch.generationBeforeRead()
        do {
            outcome = try Tracking.runJWT(
                email: token.email, jti: token.jti, tokenName: token.tokenName, spelledEmail: token.spelledEmail, context: context)
        } catch {
            context.logger.error("redis failure on access check", metadata: ["error": "\(error)"])
            throw APIError.openAI(
                503, type: "service_unavailable", code: .redisUnavailable,
                message: "Token checks are unavailable; try again shortly")
        }
        cache?.beforeRemember?()  // tests only: the window between Redis's answer and the remember
        switch outcome {
        case .revoked:
            throw denied("Token has been revoked", code: .tokenRevoked)
        case .banned(let remaining):
            throw denied(Tracking.banMessage(remaining: remaining), code: .userBanned)
        case .oauthSignInRequired:
            throw denied(
                "No recent browser sign-in: sign in through the gateway (at least every \(context.config.jwtRequireOAuthWithin) seconds) to keep using API tokens",
                code: .oauthSigninRequired)
        case .allowed:
            // token_id: LiteLLM's cut-off hook (deploy/litellm/gateway_cutoff.py) ends this call's
            // stream when the token is revoked; also attributes spend per token.
            let metadata: JSON = [
                "user_email": .string(token.email), "token_name": .string(token.tokenName), "auth_method": "jwt",
                "token_id": .string(token.jti),
            ]
            let pass = Pass(email: token.email, spendMetadata: metadata.asciiText)
            if let cache, let generation {  // nothing to remember while the watch is off
                cache.remember(
                    .init(
                        email: pass.email, expiresAt: token.expiresAt, spendMetadata: pass.spendMetadata, generation: generation,
                        checkedAt: context.now),
                    for: text)
            }
            return pass
        }
    }

    /// The token from `Authorization: Bearer <token>` (OpenAI convention) or `x-api-key: <token>`
    /// (Anthropic convention). Both headers may be sent only with the same token: two different
    /// tokens in one request are refused (`token_conflict`), so no layer can pick one the other
    /// did not check. One header present (the common case) costs what it did before.
    static func presentedToken(_ request: Request) throws -> String {
        let apiKey = request.params["HTTP_X_API_KEY"]
        guard let authorization = request.params["HTTP_AUTHORIZATION"], !authorization.isEmpty else {
            guard let apiKey, !apiKey.isEmpty else {
                throw denied("Authorization header or x-api-key required", code: .tokenMissing)
            }
            return apiKey.trimmingSpaces()
        }
        let parts = authorization.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else {
            throw denied("Invalid Authorization header format", code: .tokenMissing)
        }
        let text = String(parts[1]).trimmingSpaces()
        if let apiKey, !apiKey.isEmpty, apiKey.trimmingSpaces() != text {
            throw denied("Authorization and x-api-key carry different tokens; send one", code: .tokenConflict)
        }
        return text
    }

    /// The one exit for an allowed /v1 call, whichever way the token passed (remembered or read
    /// from Redis): every per-token rule runs here, then the allow is built. A new per-token
    /// rule goes here and nowhere else (`ArchitectureTests.jwtCheckHasOneExitForAllowed`).
    private static func allowed(_ pass: Pass, request: Request, context: Context) throws -> Response {
        try ObjectOwners.check(request, email: pass.email, context: context)
        var headers = [
            (GatewayHeader.email.rawValue, pass.email),
            (GatewayHeader.authorization.rawValue, context.config.litellmAuthorization),
            (GatewayHeader.spendMetadata.rawValue, pass.spendMetadata),
            (GatewayHeader.path.rawValue, context.forwardPath),
        ]
        // V1_DECISION_CACHE_MS: nginx may answer repeats of this check itself until then (an
        // allow only; a refusal is a thrown APIError and never carries the header).
        let windowMS = context.config.v1DecisionCacheMS
        if windowMS > 0, let expires = DecisionCache.expiresHeader(nowMS: context.clock.unixMilliseconds(), windowMS: windowMS) {
            headers.append(("X-Accel-Expires", expires))
        }
        return Response(status: 200, headers: headers)
    }

    static func denied(_ message: String, code: ErrorCode) -> APIError {
        .openAI(401, type: "authentication_error", code: code, message: message)
    }
}
