import Foundation
import Testing

@testable import GatewayCore
@testable import Handlers

/// The names nginx and the workers share (`GatewayCheck`, `GatewayHeader`, `NginxLocation`) are
/// the same on both sides: openresty/*.conf and the scripts that generate parts of it name none
/// that Swift does not know, Swift none that nginx does not use, and the Swift sources spell
/// them only through the enums.
struct NginxContractTests {
    /// nginx's configuration as written: the templates, and the generators of the rest.
    static let nginxTexts: [String] =
        ArchitectureTests.files(under: "openresty", extensions: ["conf"]).map(\.text)
        + ["scripts/render-nginx", "scripts/litellm-ui-routes"].compactMap {
            try? String(contentsOf: ArchitectureTests.root.appendingPathComponent($0), encoding: .utf8)
        }

    /// Lines outside `#` comments.
    static let nginxLines: [Substring] = nginxTexts.flatMap { text in
        text.split(separator: "\n").filter { !$0.drop(while: { $0 == " " }).hasPrefix("#") }
    }

    static func matches(_ pattern: String, in lines: [Substring]) -> Set<String> {
        let regex = try! NSRegularExpression(pattern: pattern)
        var found: Set<String> = []
        for line in lines {
            let text = String(line)
            for match in regex.matches(in: text, range: NSRange(text.startIndex..., in: text)) {
                if let range = Range(match.range(at: 1), in: text) { found.insert(String(text[range])) }
            }
        }
        return found
    }

    @Test func checksNginxNamesAreTheWorkersChecks() {
        let named = Self.matches(#"GATEWAY_CHECK\s+([A-Za-z0-9_-]+);"#, in: Self.nginxLines)
        #expect(named == Set(GatewayCheck.allCases.map(\.rawValue)), "GATEWAY_CHECK values in nginx differ from GatewayCheck")
        #expect(Set(Routes.checks.keys) == Set(GatewayCheck.allCases), "a GatewayCheck without a route")
    }

    @Test func headersNginxReadsAreTheWorkersHeaders() {
        let read = Self.matches(#"\$(upstream_http_x_gateway_[a-z0-9_]+)"#, in: Self.nginxLines)
        #expect(read == Set(GatewayHeader.allCases.map(\.nginxVariable)), "X-Gateway-* headers nginx reads differ from GatewayHeader")
    }

    @Test func namedLocationsWorkersRedirectToExistAndNoOtherIsUnused() {
        let defined = Self.matches(#"location\s+(@[a-z0-9_]+)\s*\{"#, in: Self.nginxLines)
        let referenced = Self.matches(#"(?:error_page|try_files)\s[^;]*?=?\s*(@[a-z0-9_]+)\s*;"#, in: Self.nginxLines)
        let workerTargets = Set(NginxLocation.allCases.map(\.rawValue))
        #expect(workerTargets.subtracting(defined).sorted() == [], "NginxLocation names a location nginx does not define")
        #expect(defined.subtracting(referenced).subtracting(workerTargets).sorted() == [], "named locations nothing reaches")
    }

    /// Swift spells a check, a header or a named location only through the enums: no
    /// `"X-Gateway-…"`, no `"@name"`, no check name compared or looked up as a string.
    @Test func sourcesSpellTheSharedNamesOnlyInTheContract() throws {
        var offenders: [String] = []
        let names = GatewayCheck.allCases.map(\.rawValue)
        let hyphenated = names.filter { $0.contains("-") }.joined(separator: "|")
        let spelled = try NSRegularExpression(
            pattern: #""X-Gateway-|"@[a-z_]+"|(==|!=|checks\[|hasPrefix\()\s*"("# + names.joined(separator: "|") + #"|page-)"|"("#
                + hyphenated + #")""#)
        for file in ArchitectureTests.files(under: "Sources", extensions: ["swift"]) where !file.path.hasSuffix("/NginxContract.swift") {
            for line in ArchitectureTests.codeLines(file.text) {
                let text = String(line)
                if spelled.firstMatch(in: text, range: NSRange(text.startIndex..., in: text)) != nil {
                    offenders.append("\(file.path): \(line)")
                }
            }
        }
        #expect(offenders.isEmpty, "shared names spelled outside NginxContract.swift:\n\(offenders.joined(separator: "\n"))")
    }
}
