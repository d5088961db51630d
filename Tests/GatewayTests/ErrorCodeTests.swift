import Foundation
import Testing

@testable import GatewayCore

/// One list of error codes (`ErrorCode`): every code is counted under its own metrics label, and
/// docs/api.md, nginx's configuration and the sources spell no code the list does not have.
struct ErrorCodeTests {
    static let root = ArchitectureTests.root

    /// The backticked words of the columns headed "code" in the tables of `section` of a doc.
    static func documentedCodes(_ doc: String, section: String) throws -> Set<String> {
        let text = try String(contentsOf: root.appendingPathComponent(doc), encoding: .utf8)
        var inSection = false
        var column: Int?
        var codes: Set<String> = []
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("## ") { inSection = line == "## \(section)" }
            guard inSection else { continue }
            guard line.hasPrefix("|") else {
                column = nil
                continue
            }
            let cells = line.split(separator: "|", omittingEmptySubsequences: false).dropFirst().map(String.init)
            guard let index = column else {
                column = cells.firstIndex { $0.contains("code") }
                continue
            }
            guard index < cells.count, !cells[index].hasPrefix("---") else { continue }
            codes.formUnion(backticked(cells[index]))
        }
        return codes
    }

    static func backticked(_ text: String) -> [String] {
        text.split(separator: "`", omittingEmptySubsequences: false).enumerated().filter { $0.offset % 2 == 1 }.map { String($0.element) }
    }

    /// `"code":"x"` (with or without spaces, escaped or not) in a text.
    static func codeLiterals(_ text: String) -> [String] {
        let pattern = try! NSRegularExpression(pattern: #"\\?"code\\?"\s*:\s*\\?"([a-z_]+)\\?""#)
        let range = NSRange(text.startIndex..., in: text)
        return pattern.matches(in: text, range: range).compactMap { match in
            Range(match.range(at: 1), in: text).map { String(text[$0]) }
        }
    }

    @Test func everyCodeIsCountedUnderItsOwnLabel() {
        let metrics = GatewayMetrics(environment: [:])
        for (index, code) in ErrorCode.allCases.enumerated() {
            for _ in 0...index { metrics.api.refused(code) }
        }
        let text = metrics.exposition()
        for (index, code) in ErrorCode.allCases.enumerated() {
            #expect(text.contains("gateway_requests_total{check=\"api\",code=\"\(code.rawValue)\"} \(index + 1)\n"), "\(code)")
        }
        #expect(!text.contains("code=\"other\""))
    }

    @Test func docsListExactlyTheCodes() throws {
        let documented = try Self.documentedCodes("docs/api.md", section: "Error codes")
        let listed = Set(ErrorCode.allCases.map(\.rawValue))
        #expect(documented.subtracting(listed).sorted() == [], "in docs/api.md, not in ErrorCode")
        #expect(listed.subtracting(documented).sorted() == [], "in ErrorCode, not in docs/api.md's \"Error codes\"")
    }

    @Test func nginxAnswersOnlyListedCodes() {
        var found: Set<String> = []
        for file in ArchitectureTests.files(under: "openresty", extensions: ["conf"]) {
            found.formUnion(Self.codeLiterals(file.text))
        }
        #expect(found.subtracting(ErrorCode.allCases.map(\.rawValue)).sorted() == [], "codes nginx answers that ErrorCode lacks")
        #expect(found == Set(ErrorCode.nginx.map(\.rawValue)), "ErrorCode.nginx differs from openresty/*.conf")
    }

    /// A code spelled as a string in a JSON body (not through `ErrorCode`) is still one of them.
    @Test func sourcesSpellOnlyListedCodes() {
        var offenders: [String] = []
        for file in ArchitectureTests.files(under: "Sources", extensions: ["swift"]) {
            for code in Self.codeLiterals(file.text) where ErrorCode(rawValue: code) == nil { offenders.append("\(file.path): \(code)") }
        }
        #expect(offenders.isEmpty, "codes outside ErrorCode:\n\(offenders.joined(separator: "\n"))")
    }
}
