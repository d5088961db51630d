import FCGIRuntime
import Handlers
import Testing

@testable import GatewayCore

@Suite struct WorkerSettingsTests {
    @Test func oneProcessOnItsOwnSocketByDefault() throws {
        let options = try WorkerSettings.serverOptions(environment: [:], defaultSocket: "/tmp/w.sock")
        #expect(options.processes == 1)
        #expect(options.inheritedListener == nil)
        #expect(options.socketPath == "/tmp/w.sock")
    }

    @Test func supervisorAndInheritedListenerSettings() throws {
        let options = try WorkerSettings.serverOptions(
            environment: ["WORKER_PROCESSES": "4", "WORKER_LISTEN_FD": "3"], defaultSocket: "/tmp/w.sock")
        #expect(options.processes == 4)
        #expect(options.inheritedListener == 3)
    }

    @Test func invalidProcessCountsAndDescriptorsStopTheWorker() {
        for bad in ["0", "-1", "257", "two"] {
            #expect(throws: ConfigError.self) {
                try WorkerSettings.serverOptions(environment: ["WORKER_PROCESSES": bad], defaultSocket: "/tmp/w.sock")
            }
        }
        for bad in ["-1", "three"] {
            #expect(throws: ConfigError.invalid("WORKER_LISTEN_FD", "must be a file descriptor number")) {
                try WorkerSettings.serverOptions(environment: ["WORKER_LISTEN_FD": bad], defaultSocket: "/tmp/w.sock")
            }
        }
    }
}
