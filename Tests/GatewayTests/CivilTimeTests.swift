import GatewayCore
import Testing

/// The calendar arithmetic the audit export and the error pages print times with, against
/// dates computed elsewhere (`date -u -d @N`).
struct CivilTimeTests {
    @Test(arguments: [
        (Int64(0), "1970-01-01T00:00:00Z"),
        (Int64(951_782_400), "2000-02-29T00:00:00Z"),  // a leap day of a century divisible by 400
        (Int64(1_798_761_599), "2026-12-31T23:59:59Z"),
        (Int64(-1), "1969-12-31T23:59:59Z"),
        (Int64(4_107_542_400), "2100-03-01T00:00:00Z"),  // 2100 is no leap year
    ])
    func unixTimesBecomeTheirUTCDates(unix: Int64, expected: String) {
        let t = CivilTime(unix: unix)
        let two = CivilTime.two
        #expect("\(t.year)-\(two(t.month))-\(two(t.day))T\(two(t.hour)):\(two(t.minute)):\(two(t.second))Z" == expected)
    }
}
