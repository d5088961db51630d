import Glibc

/// A failed C call, named, with its error number.
public struct SystemCallError: Error, Equatable, CustomStringConvertible {
    public let call: String
    public let code: Int32

    public init(call: String, code: Int32) {
        self.call = call
        self.code = code
    }

    public var description: String { "\(call) failed: \(String(cString: strerror(code)))" }
}

/// Runs a C call and turns its failure into a `SystemCallError` that names it. Two conventions:
/// POSIX calls answer -1 and set `errno` (`chmod`, `rename`, `FCGX_OpenSocket`, which answers a
/// descriptor or -1); calls with `returnsErrorNumber` answer 0 or the error number itself
/// (`pthread_sigmask`, `posix_spawn`, `FCGX_Init`). Returns the call's result.
@discardableResult
public func systemCall<Result: FixedWidthInteger>(
    _ call: @autoclosure () -> String, returnsErrorNumber: Bool = false, _ body: () -> Result
) throws(SystemCallError) -> Result {
    let result = body()
    if returnsErrorNumber {
        if result != 0 { throw SystemCallError(call: call(), code: Int32(truncatingIfNeeded: result)) }
    } else if result == -1 {
        throw SystemCallError(call: call(), code: errno)
    }
    return result
}
