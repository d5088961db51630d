import FCGIRuntime
import GatewayCore
import Logging

/// DEVELOPMENT ONLY: a stand-in for OAuth2 Proxy that speaks its interface byte for byte
/// (docs/api.md, "OAuth2 Proxy's session cookie") so the gateway can be run and tested without an identity provider.
/// Anyone can sign in as anyone by typing an e-mail. Production uses the real OAuth2 Proxy.
///
/// Sessions are stored like OAuth2 Proxy's Redis store: key `<cookie name>-<32 hex>` with a
/// TTL, value opaque (the e-mail encrypted under the ticket secret that only the cookie holds).
struct DevIdentitySettings: Sendable {
    let redis: RedisOptions
    let cookieName: String
    let cookieSecret: [UInt8]
    let cookieExpire: Int64
    let secureCookie: Bool
}

final class DevIdentity: Responder {
    let settings: DevIdentitySettings
    let redis: RedisClient
    let logger: Logger

    init(settings: DevIdentitySettings, logger: Logger) {
        self.settings = settings
        self.redis = RedisClient(options: settings.redis)
        self.logger = logger
    }

    func respond(to request: Request) -> Response {
        switch (request.method, request.path) {
        case (_, "/oauth2/auth"), (_, "/oauth2/userinfo"):
            return auth(request)
        case ("GET", "/oauth2/sign_in"), ("GET", "/oauth2/start"):
            return signInPage(request)
        case ("POST", "/oauth2/sign_in"):
            return signIn(request)
        case (_, "/oauth2/sign_out"):
            return signOut(request)
        default:
            return APIError.notFound("Not found").response
        }
    }

    private func auth(_ request: Request) -> Response {
        guard let email = sessionEmail(request) else { return APIError(401, .unauthenticated, "Unauthorized").response }
        if request.path == "/oauth2/userinfo" {
            return .json(200, (["email": .string(email), "user": .string(email)] as JSON).text)
        }
        return Response(status: 202, headers: [("X-Auth-Request-Email", email), ("X-Auth-Request-User", email)])
    }

    private func sessionEmail(_ request: Request) -> String? {
        guard let ticket = ticket(request), let ticketSecret = ticket.secret,
            let stored = try? redis.command("GET", ticket.id).string
        else { return nil }
        return DevSession.decrypt(stored, secret: ticketSecret)
    }

    /// The signed ticket from the request's cookie, as OAuth2 Proxy reads it.
    private func ticket(_ request: Request) -> (id: String, secret: [UInt8]?)? {
        guard let cookies = request.header("Cookie"),
            let value = OAuth2Cookie.firstCookie(named: settings.cookieName, in: cookies)
        else { return nil }
        return OAuth2Cookie.ticket(cookieValue: value, name: settings.cookieName, secret: settings.cookieSecret)
    }

    private func signIn(_ request: Request) -> Response {
        let form = FormBody(request.body)
        guard let raw = form["email"], Email.isProviderAddress(raw.trimmingSpaces()) else {
            return signInPage(request, error: "Enter a valid e-mail address.", status: 400)
        }
        // As typed (capitals kept): OAuth2 Proxy passes the provider's spelling of the e-mail on
        // unchanged, and the workers must cope with it (they lowercase; Lua-era keys do not).
        let email = raw.trimmingSpaces()
        let session = DevSession.make(email: email, settings: settings)
        do {
            _ = try redis.command("SET", session.id, session.storedValue, "EX", String(settings.cookieExpire))
        } catch {
            logger.error("dev session not stored", metadata: ["error": "\(error)"])
            return APIError(503, .redisUnavailable, "Redis unavailable: session not created").response
        }
        logger.info("dev sign-in", metadata: ["user.email": "\(email)"])
        return Response(
            status: 302,
            headers: [
                ("Location", DevIdentity.safeRedirect(form["rd"])),
                ("Set-Cookie", cookieHeader(value: session.cookieValue, maxAge: settings.cookieExpire)),
            ])
    }

    private func signOut(_ request: Request) -> Response {
        if let ticket = ticket(request) {
            _ = try? redis.command("DEL", ticket.id)
        }
        return Response(
            status: 302,
            headers: [
                ("Location", DevIdentity.safeRedirect(request.queryValue("rd"))),
                ("Set-Cookie", cookieHeader(value: "", maxAge: 0)),
            ])
    }

    private func cookieHeader(value: String, maxAge: Int64) -> String {
        "\(settings.cookieName)=\(value); Path=/; Max-Age=\(maxAge); HttpOnly; SameSite=Lax" + (settings.secureCookie ? "; Secure" : "")
    }

    /// Only local paths: `/x` but not `//host` or `/\host`.
    static func safeRedirect(_ target: String?) -> String {
        guard let target, target.hasPrefix("/"), !target.hasPrefix("//"), !target.hasPrefix("/\\"),
            !target.utf8.contains(where: { $0 < 0x20 })
        else { return "/" }
        return target
    }

    private func signInPage(_ request: Request, error: String? = nil, status: Int = 200) -> Response {
        let redirect = HTMLText.escape(DevIdentity.safeRedirect(request.queryValue("rd")))
        let message = error.map { "<p class=\"error\">\(HTMLText.escape($0))</p>" } ?? ""
        let page = """
            <!doctype html>
            <html lang="en"><head><meta charset="utf-8"><title>Sign in (development)</title>
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <style>body{font-family:system-ui,sans-serif;max-width:28rem;margin:4rem auto;padding:0 1rem}
            .dev{background:#fff3cd;border:1px solid #e0c060;padding:.75rem;border-radius:6px}
            input,button{font-size:1rem;padding:.5rem;width:100%;box-sizing:border-box;margin:.25rem 0}
            .error{color:#b00020}</style></head>
            <body><h1>Sign in</h1>
            <p class="dev"><strong>Development identity service.</strong> This is not OAuth2 Proxy: anyone can sign in
            as anyone. Never expose it outside a developer machine.</p>
            \(message)
            <form method="post" action="/oauth2/sign_in">
            <label for="email">E-mail</label>
            <input id="email" name="email" type="email" autocomplete="email" required autofocus>
            <input type="hidden" name="rd" value="\(redirect)">
            <button type="submit">Sign in</button>
            </form></body></html>
            """
        return Response(
            status: status,
            headers: [
                ("Content-Type", "text/html; charset=utf-8"), ("Cache-Control", "no-store"),
                ("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'"),
            ],
            body: Array(page.utf8))
    }
}

/// A dev session: the ids and values OAuth2 Proxy would create.
enum DevSession {
    struct Created {
        let id: String
        let storedValue: String
        let cookieValue: String
    }

    static func make(email: String, settings: DevIdentitySettings) -> Created {
        let id = Keyspace.oauth2Session(cookieName: settings.cookieName, hex: Hex.encode(Crypto.randomBytes(16)))
        let secret = Crypto.randomBytes(16)
        let cookie = OAuth2Cookie.makeCookieValue(
            sessionID: id, ticketSecret: secret, name: settings.cookieName, secret: settings.cookieSecret, now: Clock.system.unixSeconds())
        return Created(id: id, storedValue: encrypt(email, secret: secret), cookieValue: cookie)
    }

    /// An HMAC-SHA256 keystream under the ticket secret: opaque to anyone without the cookie,
    /// like OAuth2 Proxy's AES-encrypted value. Not meant as production cryptography.
    static func encrypt(_ email: String, secret: [UInt8]) -> String {
        let nonce = Crypto.randomBytes(12)
        let plain = Array(email.utf8)
        let cipher = zip(plain, keystream(secret: secret, nonce: nonce, count: plain.count)).map { $0 ^ $1 }
        return Base64URL.encode(nonce + cipher)
    }

    static func decrypt(_ stored: String, secret: [UInt8]) -> String? {
        guard let bytes = Base64URL.decode(stored), bytes.count > 12 else { return nil }
        let nonce = Array(bytes[0..<12])
        let cipher = Array(bytes[12...])
        let plain = zip(cipher, keystream(secret: secret, nonce: nonce, count: cipher.count)).map { $0 ^ $1 }
        guard let email = String(validating: plain, as: UTF8.self), Email.isProviderAddress(email) else { return nil }
        return email
    }

    static func keystream(secret: [UInt8], nonce: [UInt8], count: Int) -> [UInt8] {
        var out: [UInt8] = []
        var counter: UInt8 = 0
        while out.count < count {
            out += Crypto.hmacSHA256(key: secret, message: nonce + [counter])
            counter &+= 1
        }
        return Array(out.prefix(count))
    }

}

/// `application/x-www-form-urlencoded` fields.
struct FormBody {
    private var fields: [String: String] = [:]

    init(_ body: [UInt8]) {
        for pair in String(decoding: body, as: UTF8.self).split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard let key = PercentDecoding.decode(parts[0], plusIsSpace: true), fields[key] == nil else { continue }
            fields[key] = parts.count > 1 ? PercentDecoding.decode(parts[1], plusIsSpace: true) : ""
        }
    }

    subscript(name: String) -> String? { fields[name] }
}
