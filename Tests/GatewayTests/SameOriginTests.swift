import FCGIRuntime
import Testing

@testable import GatewayCore
@testable import Handlers

/// CSRF: state-changing browser calls must come from the gateway's own origin.
struct SameOriginTests {
    func request(_ method: String, _ headers: [String: String], origin: String = "http://gw.example.com:8080") -> Request {
        var params = ["REQUEST_METHOD": method, "DOCUMENT_URI": "/api/token/revoke", "GATEWAY_ORIGIN": origin]
        for (name, value) in headers { params["HTTP_" + name.uppercased().replacingOccurrences(of: "-", with: "_")] = value }
        return Request(params: params, body: [])
    }

    func refused(_ request: Request, publicURL: String? = nil) -> Bool {
        do {
            try SameOrigin.check(request, publicURL: publicURL)
            return false
        } catch {
            return error.code == "csrf" && error.status == 403
        }
    }

    @Test func crossSiteStateChangesAreRefused() {
        #expect(refused(request("POST", ["Sec-Fetch-Site": "cross-site"])))
        #expect(refused(request("DELETE", ["Sec-Fetch-Site": "same-site"])))
        #expect(refused(request("POST", ["Origin": "https://evil.example"])))
        #expect(refused(request("POST", ["Origin": "null"])))
        #expect(refused(request("POST", ["Origin": "http://gw.example.com:8080.evil.example"])))
        #expect(refused(request("PUT", ["Origin": "http://gw.example.com:8080", "Sec-Fetch-Site": "cross-site"])))
    }

    @Test func sameOriginScriptsAndReadsAreAllowed() {
        #expect(!refused(request("POST", [:])))
        #expect(!refused(request("POST", ["Sec-Fetch-Site": "same-origin", "Origin": "http://gw.example.com:8080"])))
        #expect(!refused(request("POST", ["Origin": "https://GW.example.com:8080"])))
        #expect(!refused(request("DELETE", ["Sec-Fetch-Site": "none"])))
        #expect(!refused(request("GET", ["Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"])))
        #expect(!refused(request("POST", ["Origin": "https://llm.example.org"]), publicURL: "https://llm.example.org/"))
    }
}
