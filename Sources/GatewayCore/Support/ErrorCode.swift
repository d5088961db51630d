/// Every stable `code` an error answer of the gateway can carry: the workers' (`APIError` takes
/// only these) and those nginx answers itself (`nginx`). Metrics count each under its own label
/// (`GatewayMetrics`); docs/api.md's error tables list exactly these (`ErrorCodeTests`), and every
/// `"code":"…"` in openresty/*.conf is one of them.
public enum ErrorCode: String, CaseIterable, Sendable {
    // Browser APIs and pages: identity and policy.
    case unauthenticated, banned, forbidden, csrf
    case notAdmin = "not_admin"
    case notSuperAdmin = "not_super_admin"
    case superAdminProtected = "super_admin_protected"
    case identityNotAllowed = "identity_not_allowed"
    // Requests the workers cannot take.
    case badRequest = "bad_request"
    case unsupportedMediaType = "unsupported_media_type"
    case invalidQuery = "invalid_query"
    case bodyMissing = "body_missing"
    case invalidJSON = "invalid_json"
    case bodyTooLarge = "body_too_large"
    case fieldNotAllowed = "field_not_allowed"
    case invalidField = "invalid_field"
    case ambiguousPath = "ambiguous_path"
    case uriTooLong = "uri_too_long"
    case notFound = "not_found"
    case methodNotAllowed = "method_not_allowed"
    // Paging and the audit log's filters.
    case invalidLimit = "invalid_limit"
    case invalidCursor = "invalid_cursor"
    case invalidActor = "invalid_actor"
    case invalidAction = "invalid_action"
    case invalidTime = "invalid_time"
    case invalidTimeRange = "invalid_time_range"
    case invalidFormat = "invalid_format"
    // Tokens, e-mails, sessions, admins, cleanup.
    case tokenIDMissing = "token_id_missing"
    case invalidTokenID = "invalid_token_id"
    case invalidTokenName = "invalid_token_name"
    case invalidExpiresIn = "invalid_expires_in"
    case invalidScopes = "invalid_scopes"
    case userEmailMissing = "user_email_missing"
    case invalidUserEmail = "invalid_user_email"
    case emailMissing = "email_missing"
    case invalidEmail = "invalid_email"
    case invalidSessionKey = "invalid_session_key"
    case cannotRevokeSelf = "cannot_revoke_self"
    case invalidSessionID = "invalid_session_id"
    case currentSession = "current_session"
    case notBanned = "not_banned"
    case superAdminNotRemovable = "super_admin_not_removable"
    case environmentAdminNotRemovable = "environment_admin_not_removable"
    case adminNotFound = "admin_not_found"
    case alreadyAdmin = "already_admin"
    case cleanupRunning = "cleanup_running"
    case noCleanupRunning = "no_cleanup_running"
    // The /v1 check.
    case tokenMissing = "token_missing"
    case tokenConflict = "token_conflict"
    case tokenTooLarge = "token_too_large"
    case tokenMalformed = "token_malformed"
    case tokenAlgorithm = "token_algorithm"
    case tokenCrit = "token_crit"
    case tokenSignature = "token_signature"
    case tokenExpired = "token_expired"
    case tokenNotYetValid = "token_not_yet_valid"
    case tokenMissingEmail = "token_missing_email"
    case tokenClaim = "token_claim"
    case tokenRevoked = "token_revoked"
    case userBanned = "user_banned"
    case oauthSigninRequired = "oauth_signin_required"
    case routeNotAllowed = "route_not_allowed"
    case objectNotFound = "object_not_found"
    // Failures.
    case redisUnavailable = "redis_unavailable"
    case redisNotReplicated = "redis_not_replicated"
    case internalError = "internal_error"
    case unknownCheck = "unknown_check"
    // Answered by nginx itself (openresty/*.conf), or by the worker for nginx (`request_too_large`).
    case requestTooLarge = "request_too_large"
    case headerTooLarge = "header_too_large"
    case lengthRequired = "length_required"
    case notImplemented = "not_implemented"
    case httpVersionNotSupported = "http_version_not_supported"
    case gatewayUnavailable = "gateway_unavailable"
    case litellmUnavailable = "litellm_unavailable"
    case litellmSignInClosed = "litellm_sign_in_closed"

    /// The codes nginx answers with from its own configuration (no worker involved).
    public static let nginx: Set<ErrorCode> = [
        .badRequest, .methodNotAllowed, .lengthRequired, .requestTooLarge, .uriTooLong, .headerTooLarge, .notImplemented,
        .httpVersionNotSupported, .gatewayUnavailable, .litellmUnavailable, .litellmSignInClosed, .notFound,
        .unauthenticated, .internalError,
    ]
}
