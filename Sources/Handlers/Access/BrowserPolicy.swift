import FCGIRuntime
import GatewayCore

/// Who may reach a route, enforced by `Router` before the handler runs.
public enum Access: Sendable {
    /// No identity needed (the handler checks what it needs itself, as the JWT check does).
    case `public`
    /// A browser session (identity from OAuth2 Proxy); banned users get 401 `blocked`, and
    /// the session is tracked (active_user_tracker; docs/sessions-and-bans.md).
    case browser
    /// As `browser`, for UI pages and admin APIs: banned users get 403 (oauth_check).
    case browserGuarded
    /// As `browserGuarded`, and the caller must be an admin (`Admins`, one rule everywhere).
    case admin
    /// As `browserGuarded`, and the caller must be the super admin.
    case superAdmin
}

/// Access rules for browser routes: identity from OAuth2 Proxy, ban check, session tracking.
enum BrowserPolicy {
    static func enforce(_ access: Access, request: Request, context: Context) throws {
        switch access {
        case .public:
            return
        case .browser, .browserGuarded, .admin, .superAdmin:
            try SameOrigin.check(request, publicURL: context.config.publicURL)
            let email = try context.requireIdentity()
            let session = OAuth2Cookie.sessionID(
                cookieHeader: request.header("Cookie"), name: context.config.cookieName, secret: context.config.cookieSecret)
            let spelled = Email.spelling(request.params[Request.identityParam], normalized: email)
            let outcome = try Tracking.runOAuth2(
                email: email, sessionID: session, spelledEmail: spelled, client: .init(request), context: context)
            guard case .banned(let remaining) = outcome else {
                try requirePrivilege(access, email: email, context: context)
                return
            }
            // A ban key for the super admin (written by other means: the gateway refuses to set
            // one) does not lock them out of the admin manager, from where they can name an
            // admin to lift it.
            if access == .superAdmin, Admins.isSuperAdmin(email, context: context) {
                context.logger.warning("super admin is banned; admin manager still allowed")
                return
            }
            context.logger.notice("banned user refused")
            if access != .browser {
                throw APIError(
                    status: 403, code: .banned,
                    body: [
                        "error": "Access denied", "code": "banned", "message": .string(Tracking.banMessage(remaining: remaining)),
                        "banned_until_seconds": .int(remaining), "user_email": .string(email),
                    ])
            }
            throw APIError(
                status: 401, code: .banned,
                body: [
                    "status": "blocked", "code": "banned", "reason": "session_deleted_recently",
                    "message": .string("Your session was ended by an administrator. \(Tracking.banMessage(remaining: remaining))."),
                    "banned_until_seconds": .int(remaining), "email": .string(email),
                ])
        }
    }

    static func requirePrivilege(_ access: Access, email: String, context: Context) throws {
        switch access {
        case .admin:
            guard try Admins.isAdmin(email, context: context) else {
                context.logger.notice("non-admin refused")
                throw APIError(
                    status: 403, code: .notAdmin,
                    body: ["error": "Insufficient privileges. Admin access only.", "code": "not_admin", "user": .string(email)])
            }
        case .superAdmin:
            guard Admins.isSuperAdmin(email, context: context) else {
                context.logger.notice("non-super-admin refused")
                throw APIError(
                    status: 403, code: .notSuperAdmin,
                    body: ["error": "Super admin only", "code": "not_super_admin", "user": .string(email)])
            }
        default:
            return
        }
    }
}
