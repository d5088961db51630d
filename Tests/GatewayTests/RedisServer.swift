import Foundation
import Glibc
import Logging
import Testing

@testable import GatewayCore
@testable import Handlers

/// A real redis-server on a free loopback port for the duration of a test, started with
/// posix_spawn (Foundation's Process.waitUntilExit hangs on test threads here).
final class RedisServer {
    let port: Int32
    private var pid: pid_t
    private let directory: String

    init() throws {
        directory = NSTemporaryDirectory() + "redis-test-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        for _ in 0..<20 {
            let candidate = Int32.random(in: 20000...60000)
            let arguments = [
                "redis-server", "--bind", "127.0.0.1", "--port", String(candidate), "--save", "", "--appendonly", "no",
                "--dir", directory, "--logfile", directory + "/redis.log",
            ]
            guard let spawned = RedisServer.spawn(arguments) else { continue }
            let client = RedisClient(options: RedisServer.options(port: candidate))
            for _ in 0..<100 {
                if (try? client.command("PING")) == .status("PONG") {
                    port = candidate
                    pid = spawned
                    return
                }
                var status: Int32 = 0
                if waitpid(spawned, &status, WNOHANG) == spawned { break }
                usleep(20_000)
            }
            kill(spawned, SIGKILL)
            var status: Int32 = 0
            waitpid(spawned, &status, 0)
        }
        throw CocoaError(.featureUnsupported)
    }

    private static func spawn(_ arguments: [String]) -> pid_t? {
        var pid: pid_t = 0
        var argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        let result = posix_spawnp(&pid, "redis-server", nil, nil, &argv, environ)
        return result == 0 ? pid : nil
    }

    static func options(port: Int32) -> RedisOptions {
        var options = RedisOptions()
        options.port = port
        options.commandTimeoutMS = 500
        options.connectTimeoutMS = 500
        options.reconnectBackoffMS = 0
        return options
    }

    var options: RedisOptions { RedisServer.options(port: port) }

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
        var environment = [
            "JWT_SECRET": "handler-test-secret-0123456789abcdef", "LITELLM_SHARED_KEY": "sk-shared",
            "LITELLM_MASTER_KEY": "sk-master", "REDIS_PORT": String(redis.port),
        ]
        environment.merge(settings) { $1 }
        let config = try Config(environment: environment)
        return (redis, config, Router(config: config, logger: Logger(label: "test")), RedisClient(options: redis.options))
    }
}
