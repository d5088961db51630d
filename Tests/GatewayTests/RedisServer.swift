import Foundation
import Glibc
import Logging
import Testing

@testable import GatewayCore
@testable import Handlers

/// A real redis-server of this test's own, for the duration of a test: no TCP port (`--port 0`),
/// a unix socket in a private folder, started with posix_spawn (Foundation's
/// Process.waitUntilExit hangs on test threads here). Ready only when the child it spawned is
/// still alive and answers PING on that socket, so no test can talk to another test's server.
final class RedisServer {
    struct StartError: Error, CustomStringConvertible {
        let description: String
    }

    let socketPath: String
    private var pid: pid_t = 0
    private let directory: String

    init() throws {
        // Short: a unix socket path has at most 107 bytes.
        directory = NSTemporaryDirectory() + "redis-test-" + UUID().uuidString.prefix(13)
        socketPath = directory + "/redis.sock"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try start()
    }

    /// Starts the server (again, after `stop()`: same socket, empty data set).
    func start() throws {
        // As the worker does (FCGIServer): a write to a server that just went away (the tests
        // stop servers on purpose) is an error to handle, not a signal that ends the process.
        signal(SIGPIPE, SIG_IGN)
        let arguments = [
            "redis-server", "--port", "0", "--unixsocket", socketPath, "--unixsocketperm", "700", "--save", "",
            "--appendonly", "no", "--dir", directory, "--logfile", directory + "/redis.log",
        ]
        guard let spawned = RedisServer.spawn(arguments) else { throw StartError(description: "posix_spawn redis-server failed") }
        let client = RedisClient(options: options)
        for _ in 0..<1000 {
            var status: Int32 = 0
            if waitpid(spawned, &status, WNOHANG) == spawned {
                let log = (try? String(contentsOfFile: directory + "/redis.log", encoding: .utf8)) ?? ""
                throw StartError(description: "redis-server exited (status \(status)): \(log.suffix(500))")
            }
            if (try? client.command("PING")) == .status("PONG") {
                pid = spawned
                return
            }
            usleep(5_000)  // readiness of a fresh process: nothing to await but its socket
        }
        kill(spawned, SIGKILL)
        var status: Int32 = 0
        waitpid(spawned, &status, 0)
        throw StartError(description: "redis-server did not answer PING within 5 s")
    }

    /// The settings that point a gateway Config at this server.
    var environment: [String: String] { ["REDIS_HOST": socketPath] }

    /// The child gets /dev/null for stdin, stdout and stderr (its log is redis.log): a server
    /// left behind by a crashed test process must not hold swift-test's output pipe open.
    private static func spawn(_ arguments: [String]) -> pid_t? {
        var pid: pid_t = 0
        var argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        for fd: Int32 in [0, 1, 2] { posix_spawn_file_actions_addopen(&actions, fd, "/dev/null", fd == 0 ? O_RDONLY : O_WRONLY, 0) }
        let result = posix_spawnp(&pid, "redis-server", &actions, nil, &argv, environ)
        return result == 0 ? pid : nil
    }

    var options: RedisOptions {
        var options = RedisOptions()
        options.unixSocket = socketPath
        options.commandTimeoutMS = 500
        options.connectTimeoutMS = 500
        options.reconnectBackoffMS = 0
        return options
    }

    func stop() {
        guard pid > 0 else { return }
        kill(pid, SIGKILL)  // the spawning thread may block SIGTERM, and the child inherits that mask
        var status: Int32 = 0
        waitpid(pid, &status, 0)
        pid = 0
    }

    deinit {
        stop()
        try? FileManager.default.removeItem(atPath: directory)
    }
}

/// The handlers' test rig: a real redis-server, a configuration pointing at it (test secrets
/// plus `settings`), a Router as a worker thread has it, and a client to look into Redis.
enum TestGateway {
    static func start(_ settings: [String: String] = [:]) throws -> (RedisServer, Config, Router, RedisClient) {
        let redis = try RedisServer()
        var environment: [String: String] = [
            "JWT_SECRET": "handler-test-secret-0123456789abcdef", "LITELLM_SHARED_KEY": "sk-shared",
            "LITELLM_MASTER_KEY": "sk-master",
        ].merging(redis.environment) { $1 }
        environment.merge(settings) { $1 }
        let config = try Config(environment: environment)
        return (redis, config, Router(config: config, logger: Logger(label: "test")), RedisClient(options: redis.options))
    }
}
