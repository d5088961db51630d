import FCGIRuntime
import GatewayCore

/// Replaces `oauth_check.lua` in front of the browser UIs: the Router has
/// already checked identity, ban and privilege for the page's access level; allowed requests
/// are sent to the static file with `X-Accel-Redirect` (nginx serves it from `/_ui/`).
/// Denials of a page are HTML (a person is looking), with a way to sign in again.
enum Pages {
    static let files = [
        "/token-manager": "token-manager.html",
        "/token-session-manager": "token-session-manager.html",
        "/admin-manager": "admin-manager.html",
        "/my-access": "my-access.html",
    ]

    static func serve(_ request: Request, _ context: Context) throws -> Response {
        guard let file = files[request.path] else { throw APIError.notFound("No such page") }
        return Response(status: 200, headers: [("X-Accel-Redirect", "/_ui/" + file)])
    }

    /// Whether a refused page load goes to a person (HTML) or to a program (JSON): a browser's
    /// own navigation says so in `Sec-Fetch-Dest: document` / `Sec-Fetch-Mode: navigate`; without
    /// those, an `Accept` naming `text/html` (an older browser); else JSON (curl, scripts).
    static func wantsHTML(_ request: Request) -> Bool {
        if request.header("Sec-Fetch-Dest") == "document" || request.header("Sec-Fetch-Mode") == "navigate" { return true }
        if let mode = request.header("Sec-Fetch-Mode"), mode != "navigate" { return false }
        return request.header("Accept")?.contains("text/html") == true
    }

    /// An error page for a denied page load, in English and Japanese: what happened, and what
    /// the person can do. A blocked person is told until when, with sign-out and a switch to
    /// another account (signing in again as the same person would only be refused again).
    /// Styled by the UIs' stylesheet; no script.
    static func errorPage(_ error: APIError, now: Int64) -> Response {
        let text = ErrorPageText(error, now: now)
        let actions =
            text.blocked
            ? """
            <a class="button" id="sign-out" href="/oauth2/sign_out">Sign out / サインアウト</a>
            <a class="button secondary" id="switch-account" href="/oauth2/sign_out?rd=%2Foauth2%2Fstart%3Frd%3D%252Ftoken-manager">Use another account / 別のアカウントを使う</a>
            """
            : """
            <a class="button" id="sign-in-again" href="/oauth2/sign_out?rd=%2Foauth2%2Fstart">Sign in again / 再度サインイン</a>
            <a class="button secondary" href="/token-manager">My API tokens / マイAPIトークン</a>
            """
        let page = """
            <!doctype html>
            <html lang="en"><head><meta charset="utf-8"><title>\(HTMLText.escape(text.title)) · \(HTMLText.escape(text.titleJa))</title>
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <link rel="icon" href="/favicon.svg" type="image/svg+xml"><link rel="stylesheet" href="/ui-assets/app.css"></head>
            <body><main class="page narrow"><section class="card" data-code="\(HTMLText.escape(error.code))">
            <h1 id="error-title">\(HTMLText.escape(text.title))</h1>
            <p id="error-message">\(HTMLText.escape(text.message))</p>
            <h2 id="error-title-ja" lang="ja">\(HTMLText.escape(text.titleJa))</h2>
            <p id="error-message-ja" lang="ja">\(HTMLText.escape(text.messageJa))</p>
            <p class="row">\(actions)</p>
            </section></main></body></html>
            """
        return Response(
            status: error.status,
            headers: [("Content-Type", "text/html; charset=utf-8"), ("Cache-Control", "no-store")],
            body: Array(page.utf8))
    }
}
