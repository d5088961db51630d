/// The opt-in decision cache of the /v1 check (V1_DECISION_CACHE_MS): nginx keeps the
/// worker's allow answer in `fastcgi_cache` (openresty/v1_decision_cache*.conf, rendered by
/// scripts/render-nginx) until the time named by `X-Accel-Expires: @T`, and never longer.
///
/// nginx counts cache validity in whole seconds: an entry stored with `@T` is served while its
/// clock reads at most T, that is until the wall clock reaches T + 1 s. So T is chosen with
/// T + 1 ≤ (now + window) / 1000: an entry never outlives the window, measured from the moment
/// the worker read Redis. When T would lie before the current second there is no header and
/// nothing is cached (with a window below 1000 ms, only answers made in the last `window` ms of
/// a second are cached, for the rest of that second).
public enum DecisionCache {
    public static let maximumMS: Int64 = 1000

    /// The `X-Accel-Expires` value for an allow made at `nowMS` (unix milliseconds), or nil:
    /// the setting is off, or the window ends before the current second does.
    public static func expiresHeader(nowMS: Int64, windowMS: Int64) -> String? {
        guard windowMS > 0, nowMS >= 0 else { return nil }
        let lastSecond = (nowMS + min(windowMS, maximumMS)) / 1000 - 1
        guard lastSecond >= nowMS / 1000 else { return nil }
        return "@\(lastSecond)"
    }
}
