import FCGIRuntime
import Testing

@testable import GatewayCore
@testable import Handlers

/// The words and the kind (HTML or JSON) of a refused page load, and `GET /api/me`'s language.
struct PagesTests {
    func request(_ headers: [String: String]) -> Request {
        var params: [String: String] = [:]
        for (name, value) in headers { params["HTTP_" + name.uppercased().replacingOccurrences(of: "-", with: "_")] = value }
        return Request(method: "GET", path: "/admin-manager", params: params)
    }

    @Test func browsersGetHTMLAndProgramsJSON() {
        #expect(Pages.wantsHTML(request(["Sec-Fetch-Dest": "document", "Sec-Fetch-Mode": "navigate"])))
        #expect(Pages.wantsHTML(request(["Accept": "text/html,*/*;q=0.8"])))  // no Sec-Fetch: an older browser
        #expect(!Pages.wantsHTML(request(["Sec-Fetch-Dest": "empty", "Sec-Fetch-Mode": "cors", "Accept": "text/html"])))
        #expect(!Pages.wantsHTML(request(["Accept": "application/json"])))
        #expect(!Pages.wantsHTML(request([:])))
    }

    @Test func aBanSaysHowLongAndUntilWhenInBothLanguages() {
        let error = APIError(status: 403, code: .banned, body: ["code": "banned", "banned_until_seconds": .int(6 * 86400 + 23 * 3600)])
        let text = ErrorPageText(error, now: 1_796_400_000)
        #expect(text.blocked)
        #expect(text.message.contains("for 6 days 23 hours, until 2026-12-11 15:00 UTC"))
        #expect(text.messageJa.contains("6日23時間") && text.messageJa.contains("2026-12-11 15:00 UTC まで"))
        #expect(ErrorPageText.english(86400 + 60) == "1 day")
        #expect(ErrorPageText.english(3600 + 60) == "1 hour 1 minute")
        #expect(ErrorPageText.utc(0) == "1970-01-01 00:00 UTC")
        #expect(ErrorPageText.utc(951_782_400) == "2000-02-29 00:00 UTC")
    }

    @Test func theLanguageIsTheFirstOfOursTheBrowserNames() {
        #expect(Me.language("ja-JP,ja;q=0.9,en;q=0.8") == "ja")
        #expect(Me.language("fr-FR, en-GB;q=0.8, ja;q=0.5") == "en")
        #expect(Me.language("de") == "en")
        #expect(Me.language(nil) == "en")
    }
}
