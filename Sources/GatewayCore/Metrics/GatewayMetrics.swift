import CoreMetrics
import Foundation

/// Every metric the workers expose (docs/operations.md), created once per process in a fixed
/// order through swift-metrics (`SharedMetricsFactory`), so each has its slot in the memory the
/// worker processes share. Label combinations are all made here, in advance: a request only
/// increments a handle it already holds.
public final class GatewayMetrics: Sendable {
    /// The process's metrics: slots inherited from the supervisor (`WORKER_METRICS_FD`) or its own.
    public static let shared = GatewayMetrics(environment: ProcessInfo.processInfo.environment)

    /// Which process of the supervisor this is (`WORKER_SLOT`, 0 without a supervisor), and how
    /// many there are: the per-process gauges.
    public static let slotVariable = "WORKER_SLOT"

    /// The access checks nginx names (`GatewayCheck`) and `api` for the /api endpoints.
    public static let checkNames = GatewayCheck.allCases.map(\.rawValue) + ["api"]

    public static let help: [String: String] = [
        "gateway_requests_total":
            "Requests answered by the workers, by access check and outcome code (ok = allowed/answered, else the error code).",
        "gateway_check_duration_seconds": "Time a worker spent on one request, by access check.",
        "gateway_redis_round_trips_total": "Round trips to Redis (one per pipeline or command).",
        "gateway_redis_errors_total": "Redis failures by kind (connect, connection, timeout, protocol, server, not_replicated).",
        "gateway_redis_connects_total": "Redis connections opened (first connects and reconnects).",
        "gateway_revocation_watch_up": "1 while the process's revocation watch is connected (remembered /v1 checks allowed).",
        "gateway_revocation_watch_hits_total": "/v1 checks answered from memory thanks to the revocation watch.",
        "gateway_worker_threads": "Accept threads of the worker process.",
        "gateway_worker_threads_busy": "Accept threads answering a request right now.",
        "gateway_actions_total": "Audited actions that succeeded (or were forwarded to LiteLLM), by the audit log's action name.",
        "gateway_index_building": "1 while the admin indexes are being built (their version marker is missing or older).",
        "gateway_index_pass_processed": "Keys the running (or last) index pass has looked at.",
        "gateway_index_pass_total": "Keys the running (or last) index pass will look at (DBSIZE at its start, an estimate).",
        "gateway_index_entries_added_total": "Index entries added by index passes (data another writer stored).",
    ]

    public let factory: SharedMetricsFactory
    public let checks: [String: CheckMetrics]
    /// The hot path's handle, without a lookup.
    public let jwt: CheckMetrics
    public let api: CheckMetrics
    public let redisRoundTrips: Counter
    public let redisErrors: [String: Counter]
    public let redisConnects: Counter
    public let watchUp: Meter
    public let watchHits: Counter
    public let threads: Meter
    public let threadsBusy: Meter
    public let actions: [AuditAction: Counter]
    public let indexBuilding: Meter
    public let indexProcessed: Meter
    public let indexTotal: Meter
    public let indexAdded: Counter

    public init(environment: [String: String]) {
        let inherited = environment[SharedSlots.fdVariable].flatMap { Int32($0) }
        factory = SharedMetricsFactory(slots: SharedSlots(inheritedFD: inherited))
        let factory = self.factory
        var checks: [String: CheckMetrics] = [:]
        for name in GatewayMetrics.checkNames { checks[name] = CheckMetrics(check: name, factory: factory) }
        self.checks = checks
        jwt = checks[GatewayCheck.jwt.rawValue] ?? CheckMetrics(check: GatewayCheck.jwt.rawValue, factory: factory)  // (the same series)
        api = checks["api"] ?? CheckMetrics(check: "api", factory: factory)
        redisRoundTrips = Counter(label: "gateway_redis_round_trips_total", factory: factory)
        var redisErrors: [String: Counter] = [:]
        for kind in ["connect", "connection", "timeout", "protocol", "server", "not_replicated"] {
            redisErrors[kind] = Counter(label: "gateway_redis_errors_total", dimensions: [("kind", kind)], factory: factory)
        }
        self.redisErrors = redisErrors
        redisConnects = Counter(label: "gateway_redis_connects_total", factory: factory)
        watchHits = Counter(label: "gateway_revocation_watch_hits_total", factory: factory)
        var actions: [AuditAction: Counter] = [:]
        for action in AuditAction.allCases {
            actions[action] = Counter(label: "gateway_actions_total", dimensions: [("action", action.rawValue)], factory: factory)
        }
        self.actions = actions
        indexBuilding = Meter(label: "gateway_index_building", factory: factory)
        indexProcessed = Meter(label: "gateway_index_pass_processed", factory: factory)
        indexTotal = Meter(label: "gateway_index_pass_total", factory: factory)
        indexAdded = Counter(label: "gateway_index_entries_added_total", factory: factory)
        // Per-process gauges: one series per process of the supervisor, made in every process in
        // the same order; this process holds its own (reset at its start).
        let processes = max(1, min(64, environment["WORKER_PROCESSES"].flatMap { Int($0) } ?? 1))
        let slot = min(processes - 1, max(0, environment[GatewayMetrics.slotVariable].flatMap { Int($0) } ?? 0))
        func perProcess(_ label: String) -> Meter {
            let all = (0..<processes).map { Meter(label: label, dimensions: [("process", String($0))], factory: factory) }
            return all[slot]
        }
        watchUp = perProcess("gateway_revocation_watch_up")
        threads = perProcess("gateway_worker_threads")
        threadsBusy = perProcess("gateway_worker_threads_busy")
        watchUp.set(0)
        threadsBusy.set(0)
    }

    public func check(_ name: String?) -> CheckMetrics {
        guard let name else { return api }
        return name == GatewayCheck.jwt.rawValue ? jwt : checks[name] ?? api
    }

    public func recordRedisError(_ error: RedisError) {
        let kind =
            switch error {
            case .connect: "connect"
            case .connection: "connection"
            case .timeout: "timeout"
            case .protocolError: "protocol"
            case .server: "server"
            case .notReplicated: "not_replicated"
            }
        redisErrors[kind]?.increment()
    }

    /// One audited action done (every `AuditAction` has its series).
    public func action(_ action: AuditAction) { actions[action]?.increment() }

    /// CLOCK_MONOTONIC in nanoseconds (a vDSO call, no system call).
    @inline(__always) public static func monotonicNanoseconds() -> Int64 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return Int64(now.tv_sec) * 1_000_000_000 + Int64(now.tv_nsec)
    }

    /// The text a scrape gets.
    public func exposition() -> String { factory.exposition(help: GatewayMetrics.help) }
}

/// One access check's counters (by outcome code: one series for every `ErrorCode`) and duration
/// histogram.
public final class CheckMetrics: Sendable {
    public let ok: Counter
    let codes: [ErrorCode: Counter]
    public let duration: CoreMetrics.Timer

    init(check: String, factory: SharedMetricsFactory) {
        let label = "gateway_requests_total"
        ok = Counter(label: label, dimensions: [("check", check), ("code", "ok")], factory: factory)
        var codes: [ErrorCode: Counter] = [:]
        for code in ErrorCode.allCases {
            codes[code] = Counter(label: label, dimensions: [("check", check), ("code", code.rawValue)], factory: factory)
        }
        self.codes = codes
        duration = CoreMetrics.Timer(label: "gateway_check_duration_seconds", dimensions: [("check", check)], factory: factory)
    }

    /// A refusal or error answer, by its code (not the hot path: one lookup in a table that has
    /// every code).
    public func refused(_ code: ErrorCode) { codes[code]?.increment() }
}
