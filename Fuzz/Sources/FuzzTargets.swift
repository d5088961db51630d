import FCGIRuntime
import Foundation
import GatewayCore
import Handlers
import Logging

/// The fuzz targets (docs/security.md, "Fuzzing"): untrusted bytes into the parsers a client
/// reaches. Each checks an invariant besides "does not crash"; a broken invariant traps, which
/// libFuzzer reports as a crash and saves the input.
enum FuzzTargets {
    static let secret = Array("fuzz-secret-0123456789abcdef0123456789".utf8)
    static let codec = JWTCodec(secrets: [secret], acceptedIssuers: ["llm-gateway"])
    /// libFuzzer calls the target from one thread only.
    nonisolated(unsafe) static let router: Router = {
        // Redis on a port nobody listens on: every Redis call fails fast with a RedisError (503).
        let environment = [
            "JWT_SECRET": String(decoding: secret, as: UTF8.self), "LITELLM_SHARED_KEY": "sk-shared",
            "LITELLM_MASTER_KEY": "sk-master", "REDIS_PORT": "1", "REDIS_CONNECT_TIMEOUT_MS": "50",
            "REDIS_TIMEOUT_MS": "50", "SUPER_ADMIN_EMAIL": "root@example.com",
        ]
        guard let config = try? Config(environment: environment) else { fatalError("fuzz configuration refused") }
        return Router(config: config, logger: Logger(label: "fuzz", factory: { _ in SwiftLogNoOpLogHandler() }))
    }()

    static let all: [String: @Sendable ([UInt8]) -> Void] = [
        "jwt": jwt, "cookie": cookie, "json": json, "fastcgi": fastcgi, "target": target,
    ]

    /// JWTCodec.verify: the input as a token (verifies only with the right MAC); and, to get past the signature, the input split at the first 0 byte into header and
    /// payload JSON, encoded and signed with the right secret. What verifies has alg exactly HS256,
    /// a typ of JWT or none, no `crit`, a live `exp`, a `jti` of 1-128 bytes and an e-mail.
    static func jwt(_ data: [UInt8]) {
        let now: Int64 = 1_700_000_000
        let text = String(decoding: data, as: UTF8.self)
        if (try? codec.verify(text, now: now)) != nil {  // only a token whose MAC is right (seeds are)
            let fields = text.split(separator: ".", omittingEmptySubsequences: false)
            precondition(
                fields.count == 3
                    && Base64URL.decode(fields[2]) == Crypto.hmacSHA256(key: secret, message: Array("\(fields[0]).\(fields[1])".utf8)),
                "input verified without the right signature")
        }
        let parts = data.split(separator: 0, maxSplits: 1, omittingEmptySubsequences: false)
        let header = Base64URL.encode(Array(parts[0]))
        let payload = Base64URL.encode(parts.count > 1 ? Array(parts[1]) : [])
        let input = header + "." + payload
        let signature = Base64URL.encode(Crypto.hmacSHA256(key: secret, message: Array(input.utf8)))
        guard let verified = try? codec.verify(input + "." + signature, now: now) else { return }
        precondition(!verified.email.isEmpty, "a verified token without user_email")
        precondition(!verified.jti.isEmpty && verified.jti.utf8.count <= 128, "a verified token with jti \(verified.jti)")
        precondition(now < verified.expiresAt + codec.leeway, "a verified token past its exp")
        guard let decoded = try? JSON.parse(Array(parts[0])) else { preconditionFailure("verified with a header that is not JSON") }
        precondition(decoded["alg"]?.stringValue == "HS256", "verified with alg \(String(describing: decoded["alg"]))")
        if let typ = decoded["typ"] { precondition(typ.stringValue?.uppercased() == "JWT", "verified with typ \(typ)") }
        precondition(decoded["crit"] == nil, "verified with crit")
    }

    /// OAuth2Cookie.sessionID with and without a cookie secret: an id, when found, is a session
    /// key; with the secret, the id survives a round trip through a freshly signed cookie, and
    /// that cookie with its time changed is refused.
    static func cookie(_ data: [UInt8]) {
        let header = String(decoding: data, as: UTF8.self)
        for secret in [nil, Optional(secret)] {
            guard let id = OAuth2Cookie.sessionID(cookieHeader: header, name: "_oauth2_proxy", secret: secret) else { continue }
            precondition(OAuth2Cookie.isSessionKey(id, cookieName: "_oauth2_proxy"), "not a session key: \(id)")
            let value = OAuth2Cookie.makeCookieValue(
                sessionID: id, ticketSecret: Array(data.prefix(16)), name: "_oauth2_proxy", secret: FuzzTargets.secret, now: 1_700_000_000)
            precondition(
                OAuth2Cookie.sessionID(cookieHeader: "_oauth2_proxy=" + value, name: "_oauth2_proxy", secret: FuzzTargets.secret) == id,
                "cookie round trip lost \(id)")
            let shifted = value.replacingOccurrences(of: "|1700000000|", with: "|1700000001|")
            precondition(
                OAuth2Cookie.sessionID(cookieHeader: "_oauth2_proxy=" + shifted, name: "_oauth2_proxy", secret: FuzzTargets.secret) == nil,
                "a cookie with a changed time verified")
        }
    }

    /// JSON.parse; what parses encodes (`.text`) to valid JSON that encodes to the same text again.
    /// (Not value equality: integral doubles are written as integers and -0.0 as 0, by design.)
    static func json(_ data: [UInt8]) {
        guard let value = try? JSON.parse(data) else { return }
        let text = value.text
        guard let again = try? JSON.parse(Array(text.utf8)) else { preconditionFailure("encoded text does not parse: \(text)") }
        precondition(again.text == text, "JSON round trip changed \(text) into \(again.text)")
    }

    /// The FastCGI request mapping and the Router: the input is `NAME=VALUE` parameters separated
    /// by 0 bytes, then a 1 byte and the body. Bad input must be a 4xx, never a 500.
    static func fastcgi(_ data: [UInt8]) {
        let split = data.split(separator: 1, maxSplits: 1, omittingEmptySubsequences: false)
        var params: [String: String] = [:]
        for entry in split[0].split(separator: 0) {
            let pair = entry.split(separator: UInt8(ascii: "="), maxSplits: 1, omittingEmptySubsequences: false)
            params[String(decoding: pair[0], as: UTF8.self)] = pair.count > 1 ? String(decoding: pair[1], as: UTF8.self) : ""
        }
        // GATEWAY_CHECK (and GATEWAY_REFUSAL) are set by nginx only, from a fixed list; an unknown
        // one is a configuration error (500).
        if let check = params["GATEWAY_CHECK"], GatewayCheck(rawValue: check).flatMap({ Routes.checks[$0] }) == nil {
            params["GATEWAY_CHECK"] = nil
        }
        if params["GATEWAY_CHECK"] == GatewayCheck.refusal.rawValue { params["GATEWAY_REFUSAL"] = ErrorCode.requestTooLarge.rawValue }
        let request = Request(params: params, body: split.count > 1 ? Array(split[1]) : [])
        for name in ["token_id", "limit", "cursor", "", "a b"] { _ = request.queryValue(name) }
        _ = request.header("Cookie")
        let response = router.respond(to: request)
        let body = String(decoding: response.body, as: UTF8.self)
        precondition(response.status != 500, "500 for \(params) \(body)")
        // Every refusal of an API is JSON with a stable code (UI pages answer with an HTML page).
        if response.status >= 400, params["GATEWAY_CHECK"]?.hasPrefix("page-") != true {
            guard let error = try? JSON.parse(response.body) else { preconditionFailure("\(response.status) not JSON: \(body)") }
            let code = error["error"]?["code"]?.stringValue ?? error["code"]?.stringValue
            precondition(code?.isEmpty == false, "\(response.status) without a code: \(body)")
        }
    }

    /// RequestTarget.forwardPath (docs/security.md "Exact paths to LiteLLM"): the input split at
    /// the first 0 byte into the raw target and nginx's normalised path (without a 0 byte, the
    /// normalised path is a model of nginx's: decoded, dot segments resolved, slashes merged).
    /// A target judged clean decodes to exactly the normalised path, and what it names to forward
    /// is plain path characters and escapes only, decoding to the same path.
    static func target(_ data: [UInt8]) {
        let parts = data.split(separator: 0, maxSplits: 1, omittingEmptySubsequences: false)
        let raw = String(decoding: parts[0], as: UTF8.self)
        let normalised = parts.count > 1 ? String(decoding: parts[1], as: UTF8.self) : modelOfNginx(raw)
        guard let forward = RequestTarget.forwardPath(raw: raw, normalised: normalised) else { return }
        let path = raw.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? ""
        guard let decodedRaw = PercentDecoding.decode(path, plusIsSpace: false),
            let decodedForward = PercentDecoding.decode(forward, plusIsSpace: false)
        else { preconditionFailure("clean target or forward path does not decode: \(raw) -> \(forward)") }
        precondition(decodedRaw.utf8.elementsEqual(normalised.utf8), "clean \(raw) does not decode to \(normalised)")
        precondition(decodedForward.utf8.elementsEqual(normalised.utf8), "forward \(forward) does not decode to \(normalised)")
        precondition(forward.utf8.first == UInt8(ascii: "/"), "forward path not absolute: \(forward)")
        for byte in forward.utf8 {
            precondition(
                RequestTarget.isPlain(byte) || byte == UInt8(ascii: "%") || byte.isHexDigit,
                "forward path byte \(byte) in \(forward)")
        }
        precondition(
            !forward.contains("//") && !forward.contains("/./") && !forward.contains("/../"),
            "forward path with a dot segment or empty segment: \(forward)")
    }

    /// nginx's normalisation, roughly: percent-decoded, `//` merged, `.` and `..` resolved.
    static func modelOfNginx(_ raw: String) -> String {
        let path = raw.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? ""
        let decoded = PercentDecoding.decode(path, plusIsSpace: false) ?? path
        var segments: [Substring] = []
        for segment in decoded.split(separator: "/", omittingEmptySubsequences: true) {
            if segment == "." { continue }
            if segment == ".." {
                _ = segments.popLast()
                continue
            }
            segments.append(segment)
        }
        return "/" + segments.joined(separator: "/") + (decoded.hasSuffix("/") && !segments.isEmpty ? "/" : "")
    }
}

extension UInt8 {
    fileprivate var isHexDigit: Bool {
        (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(self) || (UInt8(ascii: "A")...UInt8(ascii: "F")).contains(self)
    }
}
