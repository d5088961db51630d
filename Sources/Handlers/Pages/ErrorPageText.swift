import FCGIRuntime
import GatewayCore

/// The words of a refused page load, in English and Japanese, chosen by the refusal's status
/// and `code`. A ban names how long it lasts and until when (UTC).
struct ErrorPageText {
    let title: String
    let message: String
    let titleJa: String
    let messageJa: String
    let blocked: Bool

    init(_ error: APIError, now: Int64) {
        blocked = error.code == "banned"
        switch (error.status, error.code) {
        case (_, "banned"):
            let seconds = error.body["banned_until_seconds"]?.intValue ?? 0
            title = "Your access is blocked"
            titleJa = "アクセスがブロックされています"
            if seconds > 0 {
                let until = Self.utc(now + seconds)
                message =
                    "An administrator blocked your access for \(Self.english(seconds)), until \(until). "
                    + "Your API tokens are refused until then. Ask an administrator if this is a mistake."
                messageJa =
                    "管理者があなたのアクセスを \(Self.japanese(seconds)) ブロックしました（\(until) まで）。"
                    + "それまでは API トークンも拒否されます。心当たりがない場合は管理者に連絡してください。"
            } else {
                message = "An administrator blocked your access. Ask an administrator if this is a mistake."
                messageJa = "管理者があなたのアクセスをブロックしました。心当たりがない場合は管理者に連絡してください。"
            }
        case (401, _):
            (title, titleJa) = ("Please sign in", "サインインしてください")
            message = "Your session has ended. Sign in again to continue."
            messageJa = "セッションの有効期限が切れました。もう一度サインインしてください。"
        case (403, "not_super_admin"):
            (title, titleJa) = ("Not allowed", "アクセスできません")
            message = "This page is for the super administrator only."
            messageJa = "このページはスーパー管理者専用です。"
        case (403, _):
            (title, titleJa) = ("Not allowed", "アクセスできません")
            message = "This page is for administrators only."
            messageJa = "このページは管理者専用です。"
        case (404, _):
            (title, titleJa) = ("Page not found", "ページが見つかりません")
            message = "There is no page at this address."
            messageJa = "このアドレスのページはありません。"
        case (503, _):
            (title, titleJa) = ("Temporarily unavailable", "一時的に利用できません")
            message = "The gateway cannot reach its database right now. Please try again in a moment."
            messageJa = "ゲートウェイが一時的に利用できません。しばらくしてから再度お試しください。"
        default:
            (title, titleJa) = ("Something went wrong", "エラーが発生しました")
            message = "The page could not be opened. Please try again; if it keeps failing, tell an administrator."
            messageJa = "ページを開けませんでした。もう一度お試しください。続く場合は管理者に連絡してください。"
        }
    }

    static func english(_ seconds: Int64) -> String {
        duration(seconds, separator: " ") { n, unit in "\(n) \(["day", "hour", "minute"][unit])\(n == 1 ? "" : "s")" }
    }

    static func japanese(_ seconds: Int64) -> String {
        duration(seconds, separator: "") { n, unit in "\(n)\(["日", "時間", "分"][unit])" }
    }

    /// A length as its largest unit (days, hours, minutes: 0, 1, 2) and the next one when not
    /// zero ("1 day 2 hours", "3 hours", "5 minutes"); at least one minute.
    static func duration(_ seconds: Int64, separator: String, _ word: (Int64, Int) -> String) -> String {
        let counts = [seconds / 86400, seconds % 86400 / 3600, seconds % 3600 / 60]
        guard let unit = counts.prefix(2).firstIndex(where: { $0 > 0 }) else { return word(max(counts[2], 1), 2) }
        return counts[unit + 1] > 0 ? word(counts[unit], unit) + separator + word(counts[unit + 1], unit + 1) : word(counts[unit], unit)
    }

    /// A unix time as `2026-12-11 16:27 UTC`.
    static func utc(_ unix: Int64) -> String {
        let t = CivilTime(unix: unix)
        let two = CivilTime.two
        return "\(t.year)-\(two(t.month))-\(two(t.day)) \(two(t.hour)):\(two(t.minute)) UTC"
    }
}
