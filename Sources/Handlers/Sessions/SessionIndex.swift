import GatewayCore

/// Redis keys the gateway adds next to OAuth2 Proxy's sessions. OAuth2 Proxy encrypts the
/// session value, so the gateway cannot read a session's owner from it; the tracker
/// (`Tracking.script`) records the owner when it first sees the session's cookie, and
/// `SessionAdmin` uses these keys to list sessions with their owners and to end all sessions
/// of one person.
enum SessionIndex {
    /// Hash `{email, first_seen}` of one OAuth2 Proxy session; same TTL as the session key.
    static func key(_ sessionKey: String) -> String { "gw:session:\(sessionKey)" }
    static let keyPrefix = "gw:session:"

    /// Set of the OAuth2 Proxy session keys seen for one user; TTL as long as the longest of them.
    static func userKey(_ email: String) -> String { "gw:user_sessions:\(email)" }
    static let userKeyPrefix = "gw:user_sessions:"

    /// Unix time of the user's last request through OAuth2 Proxy; TTL JWT_REQUIRE_OAUTH_WITHIN
    /// (written only when that setting is on).
    static func oauthSeenKey(_ email: String) -> String { "gw:oauth_seen:\(email)" }
}
