import CSharedMemory
import CoreMetrics
import Foundation
import Glibc
import Synchronization

/// 64-bit slots in memory shared by every worker process of one supervisor (docs/operations.md,
/// "Metrics"): the supervisor creates it (a memfd) before it starts the processes, which inherit
/// the descriptor (`WORKER_METRICS_FD`) and map it. So whichever process answers a scrape
/// reports the totals of all of them, and a process that is restarted loses no counts.
/// Without a supervisor the process makes its own. Every update is one relaxed atomic add on a
/// slot fixed at start: no lock, no lookup.
public final class SharedSlots: @unchecked Sendable {
    public static let fdVariable = "WORKER_METRICS_FD"
    public static let capacity = 8192

    /// The memfd (-1 when the slots are private memory because shared memory was unavailable).
    public let fd: Int32
    private let base: UnsafeMutablePointer<Int64>

    public init(inheritedFD: Int32?) {
        let bytes = SharedSlots.capacity * MemoryLayout<Int64>.stride
        var fd = inheritedFD ?? -1
        if fd < 0 {
            fd = gateway_memfd_create("gateway-metrics")
            if fd >= 0 && ftruncate(fd, off_t(bytes)) != 0 {
                close(fd)
                fd = -1
            }
        }
        if fd >= 0, let mapped = mmap(nil, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0), mapped != MAP_FAILED {
            self.fd = fd
            base = mapped.bindMemory(to: Int64.self, capacity: SharedSlots.capacity)
        } else {
            self.fd = -1
            base = .allocate(capacity: SharedSlots.capacity)
            base.initialize(repeating: 0, count: SharedSlots.capacity)
        }
    }

    @inline(__always) func add(_ slot: Int, _ value: Int64) { gateway_shared_add(base + slot, value) }
    @inline(__always) func load(_ slot: Int) -> Int64 { gateway_shared_load(base + slot) }
    @inline(__always) func store(_ slot: Int, _ value: Int64) { gateway_shared_store(base + slot, value) }
}

/// A swift-metrics factory whose handlers write `SharedSlots`. Every metric is created once, at
/// start, in the same order in every process (`GatewayMetrics`), which fixes its slots; the
/// handlers are kept and used directly, so recording never looks a label up.
public final class SharedMetricsFactory: MetricsFactory, @unchecked Sendable {
    public enum Kind: Sendable { case counter, gauge, histogram }

    /// One series: its name, label text (`{a="b"}` or empty) and first slot.
    public struct Series: Sendable {
        public let name: String
        public let labels: String
        public let kind: Kind
        public let slot: Int
    }

    /// Histogram bucket bounds in nanoseconds (upper, inclusive); +Inf is implied.
    public static let bucketBounds: [Int64] = [
        25_000, 50_000, 100_000, 250_000, 500_000, 1_000_000, 2_500_000, 5_000_000, 10_000_000, 25_000_000,
        50_000_000, 100_000_000, 250_000_000, 1_000_000_000,
    ]

    public let slots: SharedSlots
    private let registry = Mutex<(next: Int, series: [Series], handlers: [String: AnyObject])>((1, [], [:]))

    public init(slots: SharedSlots) { self.slots = slots }

    public var series: [Series] { registry.withLock { $0.series } }

    private func register<H: AnyObject & Sendable>(
        _ label: String, _ dimensions: [(String, String)], _ kind: Kind, width: Int, make: (Int) -> H
    ) -> H {
        let labels =
            dimensions.isEmpty
            ? "" : "{" + dimensions.map { "\($0.0)=\"\(SharedMetricsFactory.escape($0.1))\"" }.joined(separator: ",") + "}"
        let key = label + labels
        return registry.withLock { state in
            if let existing = state.handlers[key] as? H { return existing }
            let slot = min(state.next, SharedSlots.capacity - width)  // past capacity: shares the last slots
            state.next += width
            let handler = make(slot)
            state.series.append(Series(name: label, labels: labels, kind: kind, slot: slot))
            state.handlers[key] = handler
            return handler
        }
    }

    static func escape(_ value: String) -> String {
        value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
            .replacingOccurrences(of: "\n", with: "\\n")
    }

    public func makeCounter(label: String, dimensions: [(String, String)]) -> any CounterHandler {
        register(label, dimensions, .counter, width: 1) { SlotCounter(slots: slots, slot: $0) }
    }

    public func makeFloatingPointCounter(label: String, dimensions: [(String, String)]) -> any FloatingPointCounterHandler {
        register(label, dimensions, .counter, width: 1) { SlotCounter(slots: slots, slot: $0) }  // whole units
    }

    public func makeMeter(label: String, dimensions: [(String, String)]) -> any MeterHandler {
        register(label, dimensions, .gauge, width: 1) { SlotGauge(slots: slots, slot: $0) }
    }

    public func makeRecorder(label: String, dimensions: [(String, String)], aggregate: Bool) -> any RecorderHandler {
        register(label, dimensions, .gauge, width: 1) { SlotGauge(slots: slots, slot: $0) }
    }

    public func makeTimer(label: String, dimensions: [(String, String)]) -> any TimerHandler {
        let width = SharedMetricsFactory.bucketBounds.count + 3  // buckets, +Inf, sum, count
        return register(label, dimensions, .histogram, width: width) { SlotHistogram(slots: slots, slot: $0) }
    }

    public func destroyCounter(_ handler: any CounterHandler) {}
    public func destroyFloatingPointCounter(_ handler: any FloatingPointCounterHandler) {}
    public func destroyMeter(_ handler: any MeterHandler) {}
    public func destroyRecorder(_ handler: any RecorderHandler) {}
    public func destroyTimer(_ handler: any TimerHandler) {}

    /// The Prometheus text format (version 0.0.4) of every series, with `help` per name.
    public func exposition(help: [String: String]) -> String {
        var text = ""
        var described = Set<String>()
        for series in self.series {
            if described.insert(series.name).inserted {
                let type =
                    switch series.kind {
                    case .counter: "counter"
                    case .gauge: "gauge"
                    case .histogram: "histogram"
                    }
                if let line = help[series.name] { text += "# HELP \(series.name) \(line)\n" }
                text += "# TYPE \(series.name) \(type)\n"
            }
            switch series.kind {
            case .counter, .gauge:
                text += "\(series.name)\(series.labels) \(slots.load(series.slot))\n"
            case .histogram:
                let inner = series.labels.isEmpty ? "" : String(series.labels.dropFirst().dropLast()) + ","
                var cumulative: Int64 = 0
                for (index, bound) in SharedMetricsFactory.bucketBounds.enumerated() {
                    cumulative += slots.load(series.slot + index)
                    text += "\(series.name)_bucket{\(inner)le=\"\(Double(bound) / 1e9)\"} \(cumulative)\n"
                }
                let count = SharedMetricsFactory.bucketBounds.count
                cumulative += slots.load(series.slot + count)
                text += "\(series.name)_bucket{\(inner)le=\"+Inf\"} \(cumulative)\n"
                text += "\(series.name)_sum\(series.labels) \(Double(slots.load(series.slot + count + 1)) / 1e9)\n"
                text += "\(series.name)_count\(series.labels) \(slots.load(series.slot + count + 2))\n"
            }
        }
        return text
    }
}

final class SlotCounter: CounterHandler, FloatingPointCounterHandler, @unchecked Sendable {
    let slots: SharedSlots
    let slot: Int
    init(slots: SharedSlots, slot: Int) { (self.slots, self.slot) = (slots, slot) }
    func increment(by amount: Int64) { slots.add(slot, amount) }
    func increment(by amount: Double) { slots.add(slot, Int64(amount.rounded())) }
    func reset() { slots.store(slot, 0) }
}

final class SlotGauge: MeterHandler, RecorderHandler, @unchecked Sendable {
    let slots: SharedSlots
    let slot: Int
    init(slots: SharedSlots, slot: Int) { (self.slots, self.slot) = (slots, slot) }
    func set(_ value: Int64) { slots.store(slot, value) }
    func set(_ value: Double) { slots.store(slot, Int64(value)) }
    func increment(by amount: Double) { slots.add(slot, Int64(amount)) }
    func decrement(by amount: Double) { slots.add(slot, -Int64(amount)) }
    func record(_ value: Int64) { slots.store(slot, value) }
    func record(_ value: Double) { slots.store(slot, Int64(value)) }
}

/// Buckets (not cumulative; the exposition sums them), then +Inf, the sum in ns and the count.
final class SlotHistogram: TimerHandler, @unchecked Sendable {
    let slots: SharedSlots
    let slot: Int
    init(slots: SharedSlots, slot: Int) { (self.slots, self.slot) = (slots, slot) }
    func recordNanoseconds(_ duration: Int64) {
        var index = 0
        let bounds = SharedMetricsFactory.bucketBounds
        while index < bounds.count && duration > bounds[index] { index += 1 }
        slots.add(slot + index, 1)
        slots.add(slot + bounds.count + 1, duration)
        slots.add(slot + bounds.count + 2, 1)
    }
}
