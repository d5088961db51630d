import Foundation
import Logging
import Testing

@testable import GatewayCore
@testable import Handlers

/// One list of audited actions (`AuditAction`): every action recorded as done is counted in
/// `gateway_actions_total` under its own name, and the session manager's filter, its names in
/// both languages and docs/operations.md name exactly these.
struct AuditActionTests {
    static func value(_ exposition: String, _ action: AuditAction) -> Int? {
        let prefix = "gateway_actions_total{action=\"\(action.rawValue)\"} "
        guard let line = exposition.split(separator: "\n").first(where: { $0.hasPrefix(prefix) }) else { return nil }
        return Int(line.dropFirst(prefix.count))
    }

    /// `Audit.record` counts each action done (Redis unreachable here: the record fails, is
    /// logged, and the action still happened, so it is counted).
    @Test func everyRecordedActionIsCounted() throws {
        let config = try Config(environment: [
            "JWT_SECRET": String(repeating: "s", count: 32), "LITELLM_SHARED_KEY": "a", "LITELLM_MASTER_KEY": "b",
            "REDIS_HOST": "/nonexistent/audit-action-test.sock",
        ])
        let context = Context(
            config: config, redis: RedisClient(options: config.redis), logger: Logger(label: "test"), now: 0, identity: nil)
        for action in AuditAction.allCases {
            let before = Self.value(GatewayMetrics.shared.exposition(), action)
            let result = action == .identityRefused ? "refused" : action == .litellmAdmin ? "forwarded" : "ok"
            Audit.record(action, target: "t", result: result, context: context)
            let after = Self.value(GatewayMetrics.shared.exposition(), action)
            #expect((after ?? 0) > (before ?? .max), "\(action.rawValue) not counted (no series, or unchanged)")
        }
    }

    static func text(_ path: String) throws -> String {
        try String(contentsOf: ArchitectureTests.root.appendingPathComponent(path), encoding: .utf8)
    }

    static let names = Set(AuditAction.allCases.map(\.rawValue))

    @Test func theSessionManagerFiltersAndNamesEveryAction() throws {
        let script = try Self.text("ui/assets/session-manager.js")
        let start = try #require(script.range(of: "const auditActions = ["))
        let end = try #require(script[start.upperBound...].range(of: "];"))
        let listed = script[start.upperBound..<end.lowerBound].split(separator: "\"", omittingEmptySubsequences: false)
            .enumerated().filter { $0.offset % 2 == 1 }.map { String($0.element) }
        #expect(Set(listed) == Self.names, "ui/assets/session-manager.js auditActions differs from AuditAction")
        let messages = try Self.text("ui/assets/i18n.js")
        for name in Self.names {
            let count = messages.components(separatedBy: "\"audit.action.\(name)\":").count - 1
            #expect(count == 2, "ui/assets/i18n.js names \(name) in \(count) languages, not 2")
        }
    }

    @Test func operationsDocListsEveryCountedAction() throws {
        let row = try #require(
            try Self.text("docs/operations.md").split(separator: "\n").first { $0.hasPrefix("| `gateway_actions_total`") })
        let documented = Set(ErrorCodeTests.backticked(String(row)).filter { $0.contains(".") || $0.contains("_") }).subtracting([
            "gateway_actions_total"
        ])
        #expect(documented == Self.names, "docs/operations.md gateway_actions_total row differs from AuditAction")
    }
}
