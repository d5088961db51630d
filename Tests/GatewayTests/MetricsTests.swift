import CoreMetrics
import Testing

@testable import GatewayCore

/// The shared-memory metrics: what a scrape shows after known recordings, and two processes'
/// views of one memfd adding up.
struct MetricsTests {
    @Test func exposition() {
        let factory = SharedMetricsFactory(slots: SharedSlots(inheritedFD: nil))
        let counter = Counter(label: "t_requests_total", dimensions: [("check", "jwt"), ("code", "ok")], factory: factory)
        let again = Counter(label: "t_requests_total", dimensions: [("check", "jwt"), ("code", "ok")], factory: factory)
        let gauge = Meter(label: "t_busy", factory: factory)
        let timer = CoreMetrics.Timer(label: "t_seconds", dimensions: [("check", "jwt")], factory: factory)
        counter.increment()
        again.increment(by: 2)
        gauge.increment()
        gauge.increment()
        gauge.decrement()
        timer.recordNanoseconds(30_000)  // bucket 50 µs
        timer.recordNanoseconds(2_000_000_000)  // +Inf
        let text = factory.exposition(help: ["t_requests_total": "Requests."])
        #expect(text.contains("# HELP t_requests_total Requests.\n# TYPE t_requests_total counter\n"))
        #expect(text.contains("t_requests_total{check=\"jwt\",code=\"ok\"} 3\n"))
        #expect(text.contains("# TYPE t_busy gauge\nt_busy 1\n"))
        #expect(text.contains("t_seconds_bucket{check=\"jwt\",le=\"2.5e-05\"} 0\n"))
        #expect(text.contains("t_seconds_bucket{check=\"jwt\",le=\"5e-05\"} 1\n"))
        #expect(text.contains("t_seconds_bucket{check=\"jwt\",le=\"1.0\"} 1\n"))
        #expect(text.contains("t_seconds_bucket{check=\"jwt\",le=\"+Inf\"} 2\n"))
        #expect(text.contains("t_seconds_sum{check=\"jwt\"} 2.00003\n"))
        #expect(text.contains("t_seconds_count{check=\"jwt\"} 2\n"))
    }

    @Test func processesSharingTheMemoryAddUp() {
        let first = GatewayMetrics(environment: ["WORKER_PROCESSES": "2", "WORKER_SLOT": "0"])
        let fd = first.factory.slots.fd
        #expect(fd >= 0)
        let second = GatewayMetrics(environment: [
            "WORKER_PROCESSES": "2", "WORKER_SLOT": "1", SharedSlots.fdVariable: String(fd),
        ])
        first.jwt.ok.increment()
        second.jwt.ok.increment(by: 4)
        second.jwt.refused(.tokenExpired)
        first.threadsBusy.increment()
        second.threadsBusy.increment(by: 2)
        let text = first.exposition()
        #expect(text == second.exposition())
        #expect(text.contains("gateway_requests_total{check=\"jwt\",code=\"ok\"} 5\n"))
        #expect(text.contains("gateway_requests_total{check=\"jwt\",code=\"token_expired\"} 1\n"))
        #expect(text.contains("gateway_worker_threads_busy{process=\"0\"} 1\n"))
        #expect(text.contains("gateway_worker_threads_busy{process=\"1\"} 2\n"))
    }
}
