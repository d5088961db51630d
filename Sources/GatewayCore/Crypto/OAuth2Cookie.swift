/// OAuth2 Proxy's session cookie (SPEC section 4): `B|T|S` where B is the padded base64url
/// ticket, T the unix time, S the padded base64url HMAC-SHA256 over name + B + T under the
/// cookie secret. The ticket is `v2.<b64 id>.<b64 secret>` (or, older, `<id>.<secret>`) and
/// the id, `<cookie name>-<32 hex>`, is the Redis key of the session.
public enum OAuth2Cookie {
    /// The session id from the first cookie called `name`, or nil when there is none or it
    /// does not parse (or, with a secret configured, its signature does not match).
    public static func sessionID(cookieHeader: String?, name: String, secret: [UInt8]?) -> String? {
        guard let cookieHeader, let value = firstCookie(named: name, in: cookieHeader) else { return nil }
        return ticket(cookieValue: value, name: name, secret: secret)?.id
    }

    /// The value of the first cookie called `name` in a `Cookie` header.
    public static func firstCookie(named name: String, in header: String) -> Substring? {
        for pair in header.split(separator: ";") {
            let trimmed = pair.drop(while: { $0 == " " || $0 == "\t" })
            guard let equals = trimmed.firstIndex(of: "=") else { continue }
            if trimmed[..<equals] == name {
                var value = trimmed[trimmed.index(after: equals)...]
                while value.last == " " || value.last == "\t" { value.removeLast() }
                if value.count >= 2, value.first == "\"", value.last == "\"" { value = value.dropFirst().dropLast() }
                return value
            }
        }
        return nil
    }

    /// The session id and, for v2 tickets, the ticket secret (which decrypts the session value).
    public static func ticket(cookieValue: Substring, name: String, secret: [UInt8]?) -> (id: String, secret: [UInt8]?)? {
        let parts = cookieValue.split(separator: "|", omittingEmptySubsequences: false)
        guard parts.count == 3, cookieValue.utf8.count <= 4096 else { return nil }
        if let secret {
            let expected = signature(secret: secret, name: name, encodedTicket: parts[0], time: parts[1])
            guard let given = Base64URL.decode(parts[2]), Crypto.constantTimeEqual(given, expected) else { return nil }
        }
        guard let ticketBytes = Base64URL.decode(parts[0]), let ticket = String(validating: ticketBytes, as: UTF8.self) else {
            return nil
        }
        let fields = ticket.split(separator: ".", omittingEmptySubsequences: false)
        let id: String?
        var ticketSecret: [UInt8]?
        if fields.count == 3, fields[0] == "v2" {
            id = Base64URL.decode(fields[1]).flatMap { String(validating: $0, as: UTF8.self) }
            ticketSecret = Base64URL.decode(fields[2])
        } else if fields.count == 2 {
            id = String(fields[0])
        } else {
            id = nil
        }
        guard let id, isSessionKey(id, cookieName: name) else { return nil }
        return (id, ticketSecret)
    }

    /// True for `<cookie name>-` followed by exactly 32 lowercase hex digits.
    public static func isSessionKey(_ key: String, cookieName: String) -> Bool {
        let prefix = cookieName + "-"
        guard key.hasPrefix(prefix) else { return false }
        let hex = key.utf8.dropFirst(prefix.utf8.count)
        return hex.count == 32 && hex.allSatisfy { (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }
    }

    static func signature(secret: [UInt8], name: String, encodedTicket: Substring, time: Substring) -> [UInt8] {
        Crypto.hmacSHA256(key: secret, message: Array(name.utf8) + Array(encodedTicket.utf8) + Array(time.utf8))
    }

    /// Builds a cookie value the way OAuth2 Proxy does (used by the dev identity service and tests).
    public static func makeCookieValue(sessionID: String, ticketSecret: [UInt8], name: String, secret: [UInt8], now: Int64) -> String {
        let ticket = "v2." + Base64URL.encode(Array(sessionID.utf8)) + "." + Base64URL.encode(ticketSecret)
        let encoded = Base64URL.encode(Array(ticket.utf8), padded: true)
        let time = String(now)
        let mac = signature(secret: secret, name: name, encodedTicket: Substring(encoded), time: Substring(time))
        return encoded + "|" + time + "|" + Base64URL.encode(mac, padded: true)
    }
}
