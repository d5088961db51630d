import Glibc

/// The one source of time. `system` reads the kernel's clocks; a test passes a clock that
/// starts at a fixed wall time (`Clock(fixedUnixSeconds:)`) to the `Router` or the handlers'
/// `Context`. Wall time (unix seconds) is what Redis records and tokens carry; monotonic
/// milliseconds measure durations, timeouts and back-offs and never jump.
public struct Clock: Sendable {
    private let fixedUnixSeconds: Int64?

    public static let system = Clock()

    private init() { fixedUnixSeconds = nil }

    /// A clock whose wall time stands still at `fixedUnixSeconds` (monotonic time still runs).
    public init(fixedUnixSeconds: Int64) { self.fixedUnixSeconds = fixedUnixSeconds }

    /// Unix time in whole seconds.
    @inline(__always)
    public func unixSeconds() -> Int64 {
        if let fixedUnixSeconds { return fixedUnixSeconds }
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return Int64(now.tv_sec)
    }

    /// Unix time in milliseconds (a fixed clock: its second, at .000).
    @inline(__always)
    public func unixMilliseconds() -> Int64 {
        if let fixedUnixSeconds { return fixedUnixSeconds * 1000 }
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return Int64(now.tv_sec) * 1000 + Int64(now.tv_nsec) / 1_000_000
    }

    /// Milliseconds of `CLOCK_MONOTONIC`.
    @inline(__always)
    public func monotonicMilliseconds() -> Int64 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return Int64(now.tv_sec) * 1000 + Int64(now.tv_nsec) / 1_000_000
    }
}
