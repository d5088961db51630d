import Foundation
import GatewayCore
import Glibc
import Logging

/// Runs `options.processes` copies of this binary on one listening socket and keeps them
/// running (`WORKER_PROCESSES=N`).
///
/// The supervisor opens the socket once and starts each child with `posix_spawn` of its own
/// executable, passing the listening descriptor in `WORKER_LISTEN_FD`; every child serves it
/// with its own `FCGIServer`. Connections wait in the shared socket's queue until some child
/// accepts them, so when a child dies only the requests it was answering are lost; the child is
/// started again at once (a child that keeps crashing within a second of its start is restarted
/// at most once a second).
///
/// Stop semantics: SIGTERM or SIGINT to the supervisor is forwarded to every child (each closes
/// the shared listener and drains its requests in flight, see `FCGIServer`); the supervisor waits
/// for them up to `drainSeconds` + 5 s, kills what is left, removes the socket file and exits
/// with status 0. Signal the supervisor, not a child: a child stopped alone closes the shared
/// listener for all of them.
public final class Supervisor {
    /// The environment variable that tells a child which descriptor to serve.
    public static let listenFDVariable = "WORKER_LISTEN_FD"

    private let options: ServerOptions
    private let logger: Logger
    /// Running children: pid → slot.
    private var children: [pid_t: Int] = [:]
    /// When each slot last started a child (for the crash-loop throttle).
    private var lastStart: [Int: Date] = [:]

    public init(options: ServerOptions, logger: Logger) {
        self.options = options
        self.logger = logger
    }

    /// Opens the socket, starts the children and supervises them until SIGTERM/SIGINT; never returns.
    public func run() throws -> Never {
        var signals = sigset_t()
        sigemptyset(&signals)
        for signal in [SIGTERM, SIGINT, SIGCHLD] { sigaddset(&signals, signal) }
        try systemCall("pthread_sigmask", returnsErrorNumber: true) { pthread_sigmask(SIG_BLOCK, &signals, nil) }

        let socket = try ListeningSocket(options: options)
        for slot in 0..<options.processes { try start(slot: slot, listener: socket.fd) }
        logger.info(
            "supervisor started",
            metadata: ["socket.path": "\(options.socketPath)", "processes": "\(options.processes)", "pid": "\(getpid())"])

        while true {
            var timeout = timespec(tv_sec: 1, tv_nsec: 0)
            let received = sigtimedwait(&signals, nil, &timeout)
            if received == SIGTERM || received == SIGINT { stop(socket: socket) }
            reapExited()
            for slot in 0..<options.processes where !children.values.contains(slot) {
                if let started = lastStart[slot], Date().timeIntervalSince(started) < 1 { continue }
                do {
                    try start(slot: slot, listener: socket.fd)
                } catch {
                    logger.error("worker process could not be started", metadata: ["error": "\(error)"])
                }
            }
        }
    }

    private func start(slot: Int, listener: Int32) throws {
        var environment = ProcessInfo.processInfo.environment
        environment[Self.listenFDVariable] = String(listener)
        // The metrics memory all processes share (GatewayMetrics), and which process this is.
        let metricsFD = GatewayMetrics.shared.factory.slots.fd
        if metricsFD >= 0 { environment[SharedSlots.fdVariable] = String(metricsFD) }
        environment[GatewayMetrics.slotVariable] = String(slot)
        let pid = try Self.spawn(arguments: CommandLine.arguments, environment: environment)
        children[pid] = slot
        lastStart[slot] = Date()
        logger.info("worker process started", metadata: ["worker.slot": "\(slot)", "pid": "\(pid)"])
    }

    /// Collects every child that has exited and logs how it ended.
    private func reapExited() {
        var status: Int32 = 0
        while case let pid = waitpid(-1, &status, WNOHANG), pid > 0 {
            guard let slot = children.removeValue(forKey: pid) else { continue }
            let signal = status & 0x7f
            let how = signal == 0 ? "exit status \((status >> 8) & 0xff)" : "signal \(signal)"
            logger.warning("worker process ended", metadata: ["worker.slot": "\(slot)", "pid": "\(pid)", "how": "\(how)"])
        }
    }

    private func stop(socket: ListeningSocket) -> Never {
        logger.info("supervisor stopping: forwarding SIGTERM", metadata: ["processes": "\(children.count)"])
        for pid in children.keys { kill(pid, SIGTERM) }
        let deadline = Date().addingTimeInterval(options.drainSeconds + 5)
        while !children.isEmpty && Date() < deadline {
            usleep(20_000)
            reapExited()
        }
        for pid in children.keys {
            logger.warning("worker process did not stop in time; killing it", metadata: ["pid": "\(pid)"])
            kill(pid, SIGKILL)
            waitpid(pid, nil, 0)
        }
        socket.unlinkIfOurs()
        logger.info("supervisor stopped")
        exit(0)
    }

    /// Starts this executable again with the given arguments and environment, with default
    /// signal dispositions and an empty signal mask.
    private static func spawn(arguments: [String], environment: [String: String]) throws -> pid_t {
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var empty = sigset_t()
        sigemptyset(&empty)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for signal in [SIGTERM, SIGINT, SIGCHLD, SIGPIPE] { sigaddset(&defaults, signal) }
        posix_spawnattr_setsigmask(&attributes, &empty)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

        let argv = arguments.map { strdup($0) } + [nil]
        let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { for pointer in argv + envp { free(pointer) } }
        var pid = pid_t()
        try systemCall("posix_spawn", returnsErrorNumber: true) { posix_spawn(&pid, "/proc/self/exe", nil, &attributes, argv, envp) }
        return pid
    }
}
