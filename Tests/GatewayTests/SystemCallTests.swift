import Glibc
import Testing

@testable import GatewayCore

struct SystemCallTests {
    @Test func minusOneThrowsErrnoWithTheCallsName() {
        #expect(throws: SystemCallError(call: "chmod", code: ENOENT)) {
            try systemCall("chmod") { chmod("/nonexistent/gateway-test", 0o600) }
        }
    }

    @Test func callsThatReturnTheErrorNumberThrowIt() {
        var empty = sigset_t()
        sigemptyset(&empty)
        #expect(throws: SystemCallError(call: "pthread_sigmask", code: EINVAL)) {
            try systemCall("pthread_sigmask", returnsErrorNumber: true) { pthread_sigmask(12345, &empty, nil) }
        }
    }

    @Test func successReturnsTheResult() throws {
        let fd = try systemCall("open") { open("/dev/null", O_RDONLY) }
        #expect(fd >= 0)
        #expect(try systemCall("close") { close(fd) } == 0)
    }
}
