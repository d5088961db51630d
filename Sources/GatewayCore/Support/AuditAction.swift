/// Every action the audit log records (docs/admin.md): `Audit.record` takes only these, and each
/// one that succeeds is counted in `gateway_actions_total{action}` under its own name
/// (`GatewayMetrics`). The session manager's filter and its names in both languages, and
/// docs/operations.md, list exactly these (`AuditActionTests`).
public enum AuditAction: String, CaseIterable, Sendable {
    case sessionSignIn = "session.sign_in"
    case tokenGenerate = "token.generate"
    case tokenRevoke = "token.revoke"
    case tokenRevokeUser = "token.revoke_user"
    case selfTokenRevoke = "self.token.revoke"
    case sessionDelete = "session.delete"
    case sessionRevokeUser = "session.revoke_user"
    case sessionUnban = "session.unban"
    case selfSessionEnd = "self.session.end"
    case selfSessionEndOthers = "self.session.end_others"
    case sessionCleanupExpired = "session.cleanup_expired"
    case adminAdd = "admin.add"
    case adminRemove = "admin.remove"
    case redisCleanup = "redis.cleanup"
    case redisCleanupStart = "redis.cleanup_start"
    case redisCleanupCancel = "redis.cleanup_cancel"
    case litellmKeyGenerate = "litellm.key_generate"
    case litellmAdmin = "litellm.admin"
    case identityRefused = "identity_refused"

    /// The results that count as the action done: `ok`, `forwarded` for what the gateway passes
    /// on to LiteLLM (its admin surface, key generation), and `refused` for an identity refusal
    /// (the action is the refusal). Other refusals and failures are not counted.
    public func counts(_ result: String) -> Bool {
        result == "ok" || result == "forwarded" || (self == .identityRefused && result == "refused")
    }
}
