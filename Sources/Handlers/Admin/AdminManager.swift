import FCGIRuntime
import GatewayCore

/// Replaces `admin_manager.lua`: the super admin lists, adds and removes admins.
///
/// Admins come from three sources (`Admins`): the super admin and the environment
/// (ADMIN_EMAILS, ADMIN_DOMAINS) are fixed by configuration; only members of the Redis set
/// `admin:emails` are added and removed here. `Router` lets only the super admin in.
enum AdminManager {
    /// `GET /api/admin/manage` → `{admins:[{email, source, removable}], total, admin_domains}`:
    /// the super admin first, then ADMIN_EMAILS, then the Redis set, each listed once under
    /// its strongest source.
    static func list(_ request: Request, _ context: Context) throws -> Response {
        let config = context.config
        var admins: [JSON] = []
        var seen = Set<String>()
        func add(_ email: String, _ source: Admins.Source) {
            guard seen.insert(email).inserted else { return }
            admins.append(["email": .string(email), "source": .string(source.rawValue), "removable": .bool(source == .redis)])
        }
        if let superAdmin = config.superAdmin { add(superAdmin, .superAdmin) }
        for email in config.adminEmails.sorted() { add(email, .environment) }
        for email in try context.redis.scanAll(["SSCAN", Keyspace.admins]).sorted() {
            add(email, Admins.configuredSource(of: email, config: config) ?? .redis)
        }
        let body: JSON = [
            "admins": .array(admins), "total": JSON(admins.count),
            "admin_domains": JSON(config.adminDomains.sorted()),
        ]
        return .json(200, body.text)
    }

    /// `POST /api/admin/manage` `{email}` → 201 `{message, email, added_by}`; 400 for a missing
    /// or invalid e-mail; 409 when the address is already an admin (from any source).
    static func add(_ request: Request, _ context: Context) throws -> Response {
        let actor = try context.requireIdentity()
        let email = try emailField(request)
        if let source = try Admins.source(of: email, context: context) {
            throw APIError(409, .alreadyAdmin, "Already an admin", [("email", .string(email)), ("source", .string(source.rawValue))])
        }
        _ = try context.redis.confirmedPipeline([["SADD", Keyspace.admins, email]])
        Audit.record(.adminAdd, target: email, context: context)
        let body: JSON = ["message": "Admin added successfully", "email": .string(email), "added_by": .string(actor)]
        return .json(201, body.text)
    }

    /// `DELETE /api/admin/manage` `{email}` → 200 `{message, email, removed_by}`; 403 for the
    /// super admin and for admins named by the environment (only a configuration change
    /// removes them); 404 when the address is not in `admin:emails`.
    static func remove(_ request: Request, _ context: Context) throws -> Response {
        let actor = try context.requireIdentity()
        let email = try emailField(request)
        switch try Admins.source(of: email, context: context) {
        case .superAdmin:
            Audit.record(.adminRemove, target: email, result: "refused_super_admin", context: context)
            throw APIError(403, .superAdminNotRemovable, "Cannot remove super admin", [("email", .string(email))])
        case .environment:
            Audit.record(.adminRemove, target: email, result: "refused_environment", context: context)
            throw APIError(
                403, .environmentAdminNotRemovable,
                "Cannot remove an admin named by ADMIN_EMAILS or ADMIN_DOMAINS; change the configuration instead",
                [("email", .string(email))])
        case .redis, nil:
            break
        }
        guard try context.redis.confirmedPipeline([["SREM", Keyspace.admins, email]])[0].integer == 1 else {
            throw APIError(404, .adminNotFound, "Admin not found", [("email", .string(email))])
        }
        Audit.record(.adminRemove, target: email, context: context)
        let body: JSON = ["message": "Admin removed successfully", "email": .string(email), "removed_by": .string(actor)]
        return .json(200, body.text)
    }

    /// The body's `email`, normalised; 400 when missing, not a string, or not an address.
    static func emailField(_ request: Request) throws(APIError) -> String {
        let body = try request.jsonObject()
        guard let raw = body["email"] else { throw .badRequest("Email required", code: .emailMissing) }
        guard let text = raw.stringValue else { throw .badRequest("email must be a string", code: .invalidEmail) }
        let email = Email.normalize(text)
        guard !email.isEmpty else { throw .badRequest("Email required", code: .emailMissing) }
        guard Email.isValid(email) else { throw .badRequest("Invalid email format", code: .invalidEmail) }
        return email
    }
}
