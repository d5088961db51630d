import FCGIRuntime
import GatewayCore

/// `GET /api/me`: who the signed-in person is, for the UIs' navigation (which pages to link,
/// who is signed in, which language to start in), so that no page probes admin routes and
/// logs their 403s. Read-only; the policy has already refused a banned person.
enum Me {
    static let path = "/api/me"

    /// The languages the UIs are written in, in the order they are preferred when the browser
    /// names none of them.
    static let languages = ["en", "ja"]

    static func get(_ request: Request, _ context: Context) throws -> Response {
        let email = try context.requireIdentity()
        let admin: Bool
        do { admin = try Admins.isAdmin(email, context: context) } catch { throw APIError.redis(error) }
        let superAdmin = Admins.isSuperAdmin(email, context: context)
        var roles: [JSON] = [.string("user")]
        if admin || superAdmin { roles.append(.string("admin")) }
        if superAdmin { roles.append(.string("super_admin")) }
        let body: JSON = [
            "email": .string(email),
            "name": .string(String(email.split(separator: "@").first ?? Substring(email))),
            "roles": .array(roles),
            "is_admin": .bool(admin || superAdmin),
            "is_super_admin": .bool(superAdmin),
            "language": .string(language(request.header("Accept-Language"))),
        ]
        return .json(200, body.text)
    }

    /// The first of the UIs' languages named in an Accept-Language header (`ja-JP,ja;q=0.9`),
    /// else English. Quality values are taken in the order given, as browsers send them.
    static func language(_ header: String?) -> String {
        for part in (header ?? "").split(separator: ",") {
            let tag = part.split(separator: ";").first.map { String($0.filter { $0 != " " && $0 != "\t" }).lowercased() } ?? ""
            let base = String(tag.split(separator: "-").first ?? "")
            if languages.contains(base) { return base }
        }
        return "en"
    }
}
