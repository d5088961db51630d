import FCGIRuntime
import GatewayCore

/// Replaces `token_generator.lua`: `POST /api/token/generate`. The token is
/// returned only after its records are stored, so every token handed out can be revoked.
enum TokenGenerator {
    static let defaultScopes = ["api:read", "api:write"]
    static let maxNameLength = 100

    static func generate(_ request: Request, _ context: Context) throws -> Response {
        let email = try context.requireIdentity()
        let body = try request.jsonObject(allowEmpty: true)
        let config = context.config

        var name = "API Token"
        if let value = body["token_name"], !value.isNull {
            guard let text = value.stringValue else { throw APIError.badRequest("token_name must be a string", code: .invalidTokenName) }
            let trimmed = text.trimmingSpaces()
            guard trimmed.count <= maxNameLength else {
                throw APIError.badRequest("token_name must be at most \(maxNameLength) characters", code: .invalidTokenName)
            }
            if !trimmed.isEmpty { name = trimmed }
        }

        var expiresIn = config.tokenDefaultTTL
        if let value = body["expires_in"], !value.isNull {
            let seconds: Int64? =
                switch value {
                case .int(let whole): whole
                case .double(let number) where number.isFinite && number == number.rounded() && abs(number) < 1e15: Int64(number)
                default: nil
                }
            guard let seconds, seconds > 0 else {
                throw APIError.badRequest("expires_in must be a positive whole number of seconds", code: .invalidExpiresIn)
            }
            expiresIn = min(seconds, config.tokenMaxTTL)
        }

        var scopes = defaultScopes
        if let value = body["scopes"], !value.isNull {
            guard let list = value.arrayValue, !list.isEmpty, list.count <= 32 else {
                throw APIError.badRequest("scopes must be a non-empty array of strings", code: .invalidScopes)
            }
            let strings = list.compactMap(\.stringValue)
            guard strings.count == list.count, strings.allSatisfy({ !$0.isEmpty && $0.count <= 64 }) else {
                throw APIError.badRequest("scopes must be a non-empty array of strings", code: .invalidScopes)
            }
            scopes = strings
        }

        let tokenID = Crypto.uuidV4()
        let now = context.now
        let expiresAt = now + expiresIn
        let claims: JSON = [
            "jti": .string(tokenID), "user_email": .string(email), "user_id": .string(email), "token_name": .string(name),
            "scopes": JSON(scopes), "iat": .int(now), "nbf": .int(now), "exp": .int(expiresAt),
            "iss": .string(config.jwtIssuer), "aud": .string(config.jwt.audience),
        ]
        let token = config.jwt.sign(claims)
        let info: JSON = [
            "token_id": .string(tokenID), "user_email": .string(email), "token_name": .string(name), "scopes": JSON(scopes),
            "created_at": .int(now), "expires_at": .int(expiresAt),
        ]
        do {
            try context.redis.transaction(
                [
                    ["SET", Keyspace.tokenInfo(tokenID), info.text, "EX", String(expiresIn)],
                    ["SADD", Keyspace.userTokens(email), tokenID],
                ] + AdminIndex.addToken(id: tokenID, email: email, createdAt: now, expiresAt: expiresAt), confirmed: true)
        } catch {
            context.logger.error("token not stored", metadata: ["error": "\(error)"])
            if case .notReplicated = error { throw APIError.notReplicated }
            throw APIError(503, .redisUnavailable, "Token could not be stored; no token was issued")
        }
        context.logger.info("token generated", metadata: ["token.id": "\(tokenID)"])
        // The audit entry names the token, never holds it.
        Audit.record(
            .tokenGenerate, target: email,
            details: ["token_id": .string(tokenID), "token_name": .string(name), "expires_at": .int(expiresAt)], context: context)

        let base = config.publicURL ?? request.params["GATEWAY_ORIGIN"] ?? "http://127.0.0.1:8080"
        let answer: JSON = [
            "success": true, "token": .string(token), "token_type": "Bearer", "token_id": .string(tokenID),
            "token_name": .string(name), "expires_in": .int(expiresIn), "expires_at": .int(expiresAt),
            "created_at": .int(now), "scopes": JSON(scopes), "user_email": .string(email),
            "usage_instructions": [
                "curl": .string(
                    "curl \(base)/v1/chat/completions -H 'Authorization: Bearer \(token)' -H 'Content-Type: application/json' -d '{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\",\"content\":\"Hello\"}]}'"
                ),
                "roo_code": .string("API Provider: OpenAI Compatible; Base URL: \(base)/v1; API Key: this token"),
                "claude_code": .string("export ANTHROPIC_BASE_URL=\(base) ANTHROPIC_AUTH_TOKEN=\(token)"),
            ],
        ]
        return .json(200, answer.text)
    }
}
