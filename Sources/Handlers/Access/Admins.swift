import GatewayCore

/// The one admin rule, used by every admin route and the LiteLLM admin check (docs/admin.md):
/// an admin is SUPER_ADMIN_EMAIL, or listed in ADMIN_EMAILS, or in a domain of ADMIN_DOMAINS,
/// or a member of the Redis set `admin:emails` (`Keyspace.admins`). E-mails are compared lowercased.
public enum Admins {
    public enum Source: String, Sendable {
        case superAdmin = "super_admin"
        case environment
        case redis
    }

    /// Where the caller's admin right comes from, or nil for a non-admin. Configuration is
    /// checked first, so Redis is asked only for people the environment does not name.
    public static func source(of email: String, context: Context) throws(RedisError) -> Source? {
        if let source = configuredSource(of: email, config: context.config) { return source }
        return try context.redis.integer("SISMEMBER", Keyspace.admins, email) == 1 ? .redis : nil
    }

    /// The admin right configuration gives (super admin, ADMIN_EMAILS, ADMIN_DOMAINS), without Redis.
    public static func configuredSource(of email: String, config: Config) -> Source? {
        if email == config.superAdmin { return .superAdmin }
        if config.adminEmails.contains(email) { return .environment }
        if let domain = email.split(separator: "@").last, config.adminDomains.contains(String(domain)) { return .environment }
        return nil
    }

    public static func isAdmin(_ email: String, context: Context) throws(RedisError) -> Bool {
        try source(of: email, context: context) != nil
    }

    public static func isSuperAdmin(_ email: String, context: Context) -> Bool {
        email == context.config.superAdmin
    }
}
