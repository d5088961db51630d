/// A unix time as a UTC calendar date and time of day (proleptic Gregorian calendar; days to
/// civil date by Howard Hinnant's algorithm), for the few places that print a time without
/// Foundation: the audit export and the error pages.
public struct CivilTime: Sendable, Equatable {
    public let year, month, day, hour, minute, second: Int64

    public init(unix: Int64) {
        let days = unix >= 0 ? unix / 86400 : (unix - 86399) / 86400
        let seconds = unix - days * 86400
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        day = doy - (153 * mp + 2) / 5 + 1
        month = mp < 10 ? mp + 3 : mp - 9
        year = yoe + era * 400 + (month <= 2 ? 1 : 0)
        hour = seconds / 3600
        minute = seconds % 3600 / 60
        second = seconds % 60
    }

    /// `n` with at least two digits.
    public static func two(_ n: Int64) -> String { n < 10 ? "0\(n)" : "\(n)" }
}
