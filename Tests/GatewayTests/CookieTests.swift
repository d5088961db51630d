import Foundation
import Testing

@testable import GatewayCore
@testable import Handlers

struct CookieTests {
    let secret = Array("cookie-secret-0123456789abcdef".utf8)
    let id = "_oauth2_proxy-0123456789abcdef0123456789abcdef"

    func cookie(now: Int64 = 1_795_000_000) -> String {
        OAuth2Cookie.makeCookieValue(
            sessionID: id, ticketSecret: Array(repeating: 7, count: 16), name: "_oauth2_proxy", secret: secret, now: now)
    }

    @Test func realFormatCookieYieldsTheSessionKey() {
        // A value in OAuth2 Proxy v7's format: padded base64url ticket | time | padded base64url HMAC.
        let value = cookie()
        let parts = value.split(separator: "|")
        #expect(parts.count == 3 && parts[1] == "1795000000" && parts[2].hasSuffix("="))
        #expect(OAuth2Cookie.sessionID(cookieHeader: "_oauth2_proxy=\(value)", name: "_oauth2_proxy", secret: secret) == id)
        #expect(OAuth2Cookie.sessionID(cookieHeader: "_oauth2_proxy=\(value)", name: "_oauth2_proxy", secret: nil) == id)
    }

    /// A cookie as OAuth2 Proxy itself sets it, computed outside this code base from OAuth2
    /// Proxy's published source by Tests/vectors/oauth2_proxy_cookie.py (which cites the files
    /// and commits it follows), not with `makeCookieValue`/`signature`.
    static let proxyVector = (
        secret: "vector-cookie-secret-0123456789ab",
        value:
            "djIuWDI5aGRYUm9NbDl3Y205NGVTMWhNR0V4WVRKaE0yRTBZVFZoTm1FM1lUaGhPV0ZoWVdKaFkyRmtZV1ZoWmcuRUJFU0V4UVZGaGNZR1JvYkhCMGVIdw==|1795000000|AXpDs3_cEFSHu_SIX5X8G83h5eVaHIbhsl4TNkf3Hn8=",
        sessionKey: "_oauth2_proxy-a0a1a2a3a4a5a6a7a8a9aaabacadaeaf"
    )

    @Test func aCookieMadeByOAuth2ProxysAlgorithmIsVerified() throws {
        let vector = CookieTests.proxyVector
        let header = "theme=dark; _oauth2_proxy=\(vector.value)"
        let value = try #require(OAuth2Cookie.firstCookie(named: "_oauth2_proxy", in: header))
        let ticket = try #require(OAuth2Cookie.ticket(cookieValue: value, name: "_oauth2_proxy", secret: Array(vector.secret.utf8)))
        #expect(ticket.id == vector.sessionKey)
        #expect(ticket.secret == Array(0x10..<0x20))  // the AES key that decrypts the session in Redis
        // The same bytes under another secret, or with the time changed, are refused.
        #expect(OAuth2Cookie.sessionID(cookieHeader: header, name: "_oauth2_proxy", secret: Array("other".utf8)) == nil)
        let shifted = vector.value.replacingOccurrences(of: "|1795000000|", with: "|1795000001|")
        #expect(
            OAuth2Cookie.sessionID(cookieHeader: "_oauth2_proxy=\(shifted)", name: "_oauth2_proxy", secret: Array(vector.secret.utf8))
                == nil)
        // Our own signer agrees with OAuth2 Proxy's (the dev identity service uses it).
        #expect(
            OAuth2Cookie.makeCookieValue(
                sessionID: vector.sessionKey, ticketSecret: Array(0x10..<0x20), name: "_oauth2_proxy", secret: Array(vector.secret.utf8),
                now: 1_795_000_000) == vector.value)
    }

    @Test func onlyTheFirstCookieOfThatNameCounts() {
        let other = OAuth2Cookie.makeCookieValue(
            sessionID: "_oauth2_proxy-ffffffffffffffffffffffffffffffff", ticketSecret: [1], name: "_oauth2_proxy", secret: secret, now: 1)
        let header = "theme=dark; _oauth2_proxy=\(cookie()); _oauth2_proxy=\(other)"
        #expect(OAuth2Cookie.sessionID(cookieHeader: header, name: "_oauth2_proxy", secret: secret) == id)
    }

    @Test func badSignatureIsRefusedWhenTheSecretIsKnown() {
        var parts = cookie().split(separator: "|").map(String.init)
        parts[1] = "1795000001"
        let forged = parts.joined(separator: "|")
        #expect(OAuth2Cookie.sessionID(cookieHeader: "_oauth2_proxy=\(forged)", name: "_oauth2_proxy", secret: secret) == nil)
        #expect(
            OAuth2Cookie.sessionID(
                cookieHeader: "_oauth2_proxy=\(forged)", name: "_oauth2_proxy", secret: Array("other-secret-xxxxxxxx".utf8)) == nil)
    }

    @Test func olderTwoPartTicketsAreRead() {
        let ticket = Base64URL.encode(Array("\(id).c2VjcmV0".utf8), padded: true)
        let header = "_oauth2_proxy=\(ticket)|1700000000|sig"
        #expect(OAuth2Cookie.sessionID(cookieHeader: header, name: "_oauth2_proxy", secret: nil) == id)
    }

    @Test(arguments: [
        "", "_oauth2_proxy=", "_oauth2_proxy=a|b", "_oauth2_proxy=!!!|1|x", "_oauth2_proxy_csrf=abc",
        "_oauth2_proxy=" + Base64URL.encode(Array("v2.bm90LWEtc2Vzc2lvbg.c2VjcmV0".utf8), padded: true) + "|1|x",
        "_oauth2_proxy=" + Base64URL.encode(Array("v2.X29hdXRoMl9wcm94eS0xMjM.c2VjcmV0".utf8), padded: true) + "|1|x",
    ])
    func garbageYieldsNothing(header: String) {
        #expect(OAuth2Cookie.sessionID(cookieHeader: header, name: "_oauth2_proxy", secret: nil) == nil)
    }

    @Test func sessionKeyShape() {
        #expect(OAuth2Cookie.isSessionKey(id, cookieName: "_oauth2_proxy"))
        #expect(!OAuth2Cookie.isSessionKey("revoked:token:abc", cookieName: "_oauth2_proxy"))
        #expect(!OAuth2Cookie.isSessionKey("_oauth2_proxy-0123456789ABCDEF0123456789abcdef", cookieName: "_oauth2_proxy"))
        #expect(!OAuth2Cookie.isSessionKey("_oauth2_proxy-0123", cookieName: "_oauth2_proxy"))
    }
}
