import FCGIRuntime

/// Replaces `oauth_check.lua` in front of the browser UIs (SPEC 5.7, 5.14): the Router has
/// already checked identity, ban and privilege for the page's access level; allowed requests
/// are sent to the static file with `X-Accel-Redirect` (nginx serves it from `/_ui/`).
/// Denials of a page are HTML (a person is looking), with a way to sign in again.
enum Pages {
    static let files = [
        "/token-manager": "token-manager.html",
        "/token-session-manager": "token-session-manager.html",
        "/admin-manager": "admin-manager.html",
    ]

    static func serve(_ request: Request, _ context: Context) throws -> Response {
        guard let file = files[request.path] else { throw APIError.notFound("No such page") }
        return Response(status: 200, headers: [("X-Accel-Redirect", "/_ui/" + file)])
    }

    /// An error page for a denied page load: the message of the JSON error, the status, and
    /// links to sign in again or go to one's own tokens.
    static func errorPage(_ error: APIError) -> Response {
        let title: String
        let message: String
        switch error.status {
        case 401 where error.code == "banned":
            title = "Access blocked"
            message = error.body["message"]?.stringValue ?? "Your access has been blocked by an administrator."
        case 401:
            title = "Please sign in"
            message = "Your session has ended. Sign in again to continue."
        case 403 where error.code == "banned":
            title = "Access blocked"
            message = error.body["message"]?.stringValue ?? "Your access has been blocked by an administrator."
        case 403:
            title = "Not allowed"
            message = error.code == "not_super_admin"
                ? "This page is for the super administrator only." : "This page is for administrators only."
        case 503:
            title = "Temporarily unavailable"
            message = "The gateway cannot reach its database right now. Please try again in a moment."
        default:
            title = "Something went wrong"
            message = error.body["error"]?.stringValue ?? "Unexpected error."
        }
        let page = """
            <!doctype html>
            <html lang="en"><head><meta charset="utf-8"><title>\(HTMLText.escape(title))</title>
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <link rel="stylesheet" href="/ui-assets/app.css"></head>
            <body><main class="page narrow"><h1 id="error-title">\(HTMLText.escape(title))</h1>
            <p id="error-message">\(HTMLText.escape(message))</p>
            <p><a class="button" href="/oauth2/sign_out?rd=%2Foauth2%2Fstart">Sign in again</a>
            <a href="/token-manager">My API tokens</a></p></main></body></html>
            """
        return Response(
            status: error.status,
            headers: [("Content-Type", "text/html; charset=utf-8"), ("Cache-Control", "no-store")],
            body: Array(page.utf8))
    }
}

public enum HTMLText {
    public static func escape(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for character in text {
            switch character {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.append(character)
            }
        }
        return out
    }
}
