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

    /// An error page for a denied page load: the message of the JSON error, the status, a
    /// Japanese line for the original audience, and links to sign in again or go to one's own
    /// tokens. Styled by the UIs' stylesheet; no script.
    static func errorPage(_ error: APIError) -> Response {
        let banned = "Your access has been blocked by an administrator."
        let (title, message, japanese): (String, String, String) =
            switch (error.status, error.code) {
            case (401, "banned"), (403, "banned"):
                ("Access blocked", error.body["message"]?.stringValue ?? banned, "管理者によりアクセスがブロックされています。")
            case (401, _):
                ("Please sign in", "Your session has ended. Sign in again to continue.", "セッションの有効期限が切れました。もう一度サインインしてください。")
            case (403, "not_super_admin"):
                ("Not allowed", "This page is for the super administrator only.", "このページはスーパー管理者専用です。")
            case (403, _):
                ("Not allowed", "This page is for administrators only.", "このページは管理者専用です。")
            case (503, _):
                (
                    "Temporarily unavailable", "The gateway cannot reach its database right now. Please try again in a moment.",
                    "ゲートウェイが一時的に利用できません。しばらくしてから再度お試しください。"
                )
            default:
                ("Something went wrong", error.body["error"]?.stringValue ?? "Unexpected error.", "エラーが発生しました。")
            }
        let page = """
            <!doctype html>
            <html lang="en"><head><meta charset="utf-8"><title>\(HTMLText.escape(title))</title>
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <link rel="icon" href="/favicon.svg" type="image/svg+xml"><link rel="stylesheet" href="/ui-assets/app.css"></head>
            <body><main class="page narrow"><section class="card">
            <h1 id="error-title">\(HTMLText.escape(title))</h1>
            <p id="error-message">\(HTMLText.escape(message))</p>
            <p id="error-message-ja" class="hint" lang="ja">\(HTMLText.escape(japanese))</p>
            <p class="row"><a class="button" id="sign-in-again" href="/oauth2/sign_out?rd=%2Foauth2%2Fstart">Sign in again / 再度サインイン</a>
            <a class="button secondary" href="/token-manager">My API tokens / マイAPIトークン</a></p>
            </section></main></body></html>
            """
        return Response(
            status: error.status,
            headers: [("Content-Type", "text/html; charset=utf-8"), ("Cache-Control", "no-store")],
            body: Array(page.utf8))
    }
}
