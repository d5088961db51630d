import CFCGI
import Foundation
import GatewayCore
import Glibc
import Logging
import Synchronization

/// How the worker listens and how many requests it serves at once.
public struct ServerOptions: Sendable {
    /// Unix socket path nginx connects to.
    public var socketPath: String
    /// Permission bits of the socket (0o660: owner and group may connect).
    public var socketMode: mode_t = 0o660
    /// Group that owns the socket (nginx's worker group, e.g. `www-data`), or nil to keep ours.
    public var socketGroup: String?
    /// Accept threads. With `fastcgi_keep_conn on` every kept-alive connection holds one
    /// thread while idle, so keep `threads > nginx workers × upstream keepalive` (see README).
    public var threads: Int = 16
    public var backlog: Int32 = 1024
    /// Request bodies above this size are answered with 413 JSON.
    public var maxBodyBytes: Int = 1 << 20
    /// How long SIGTERM waits for requests in flight before the process exits.
    public var drainSeconds: Double = 10
    /// Worker processes on the socket: above 1, `Supervisor` runs this many copies of the binary.
    public var processes: Int = 1
    /// An already listening socket inherited from a `Supervisor` (`WORKER_LISTEN_FD`): served
    /// instead of opening `socketPath`, whose file then belongs to the supervisor.
    public var inheritedListener: Int32?

    public init(socketPath: String) {
        self.socketPath = socketPath
    }
}

/// A FastCGI server over libfcgi: a fixed pool of threads, each accepting and answering
/// requests with its own `Responder`.
///
/// Stop semantics: on SIGTERM or SIGINT the listener is closed (new connections are refused
/// at once, so nginx can fail over to another worker), idle kept-alive connections are closed,
/// requests in flight finish (up to `drainSeconds`), then the process exits with status 0.
public final class FCGIServer: Sendable {
    private let options: ServerOptions
    private let logger: Logger
    // Lock-free on the request path (a mutex here was the worker's hottest symbol under load).
    private let stopping = Atomic<Bool>(false)
    private let busy = Atomic<Int>(0)
    private let metrics = GatewayMetrics.shared
    private let slots: [Slot]

    /// One accept thread's state that `stop` reads: the kept-alive connection it waits on.
    private final class Slot: Sendable {
        let idleConnection = Atomic<Int32>(-1)
    }

    public init(options: ServerOptions, logger: Logger) {
        self.options = options
        self.logger = logger
        self.slots = (0..<max(1, options.threads)).map { _ in Slot() }
    }

    /// Opens the socket, starts the threads and serves until SIGTERM/SIGINT; never returns.
    public func run(makeResponder: @escaping @Sendable () -> any Responder) throws -> Never {
        signal(SIGPIPE, SIG_IGN)
        var stopSignals = sigset_t()
        sigemptyset(&stopSignals)
        sigaddset(&stopSignals, SIGTERM)
        sigaddset(&stopSignals, SIGINT)
        // Block the stop signals in every thread; the main thread takes them with sigwait.
        try systemCall("pthread_sigmask", returnsErrorNumber: true) { pthread_sigmask(SIG_BLOCK, &stopSignals, nil) }

        try systemCall("FCGX_Init", returnsErrorNumber: true) { FCGX_Init() }
        let listener: Int32
        if let inherited = options.inheritedListener {
            listener = inherited
        } else {
            let socket = try ListeningSocket(options: options)
            ownSocket.withLock { $0 = socket }
            listener = socket.fd
        }
        let threadCount = slots.count
        metrics.threads.set(Int64(threadCount))
        for slot in slots {
            let thread = Thread { [self] in
                self.serve(slot: slot, listener: listener, responder: makeResponder())
            }
            thread.stackSize = 1 << 20
            thread.start()
        }
        logger.info(
            "worker listening",
            metadata: ["socket.path": "\(options.socketPath)", "threads": "\(threadCount)", "pid": "\(getpid())"])

        var received: Int32 = 0
        sigwait(&stopSignals, &received)
        stop(listener: listener)
    }

    private func stop(listener: Int32) -> Never {
        logger.info("worker stopping: draining requests in flight")
        stopping.store(true, ordering: .sequentiallyConsistent)
        let idle = slots.map { $0.idleConnection.load(ordering: .sequentiallyConsistent) }.filter { $0 >= 0 }
        ownSocket.withLock { $0 }?.unlinkIfOurs()
        shutdown(listener, Int32(SHUT_RDWR))
        for fd in idle { shutdown(fd, Int32(SHUT_RDWR)) }
        let deadline = Date().addingTimeInterval(options.drainSeconds)
        while busy.load(ordering: .sequentiallyConsistent) > 0 && Date() < deadline {
            usleep(10_000)
        }
        let left = busy.load(ordering: .sequentiallyConsistent)
        logger.info("worker stopped", metadata: ["requests.unfinished": "\(left)"])
        exit(0)
    }

    /// The socket file this process created (nil when serving an inherited listener).
    private let ownSocket = Mutex<ListeningSocket?>(nil)

    /// A thread's loop. The thread publishes the kept-alive connection it is about to wait on
    /// before it checks `stopping`, and `stop` sets `stopping` before it reads the published
    /// connections: so either the thread sees the stop, or `stop` sees (and shuts down) the
    /// connection it waits on.
    private func serve(slot: Slot, listener: Int32, responder: any Responder) {
        let request = FCGIRequest(listener: listener)
        while true {
            let keptAlive = request.connectionFD
            slot.idleConnection.store(keptAlive, ordering: .sequentiallyConsistent)
            if stopping.load(ordering: .sequentiallyConsistent) { return }
            let accepted = FCGX_Accept_r(request.raw)
            if accepted >= 0 {
                busy.add(1, ordering: .sequentiallyConsistent)
                metrics.threadsBusy.increment()
            }
            slot.idleConnection.store(-1, ordering: .sequentiallyConsistent)
            guard accepted >= 0 else {
                if stopping.load(ordering: .sequentiallyConsistent) { return }
                // The peer closed a kept-alive connection, or accept failed: try again.
                if accepted != -Int32(EINTR) && keptAlive < 0 { usleep(1000) }
                continue
            }
            handle(request, responder: responder)
            FCGX_Finish_r(request.raw)
            busy.subtract(1, ordering: .sequentiallyConsistent)
            metrics.threadsBusy.decrement()
            if stopping.load(ordering: .sequentiallyConsistent) { return }
        }
    }

    private func handle(_ request: FCGIRequest, responder: any Responder) {
        let params = request.params()
        let response: Response
        switch request.readBody(limit: options.maxBodyBytes) {
        case .some(let body):
            response = responder.respond(to: Request(params: params, body: body))
        case .none:
            metrics.check(params["GATEWAY_CHECK"]).refused(.bodyTooLarge)
            response = responder.respond(to: .bodyTooLarge(maxBytes: options.maxBodyBytes), for: Request(params: params, body: []))
        }
        request.write(response)
    }

}

/// A setting the runtime cannot apply (failed C calls are `SystemCallError`s).
public enum RuntimeError: Error, CustomStringConvertible {
    case unknownGroup(String)

    public var description: String {
        switch self {
        case .unknownGroup(let group): "socket group \(group) does not exist"
        }
    }
}
