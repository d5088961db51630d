import Foundation
import Testing

@testable import GatewayCore

/// Rules of the code base that a reviewer would otherwise have to remember: one place for Redis
/// keys, one writer for the keys the revocation watch trusts, and a repository that explains
/// itself without documents it does not contain.
struct ArchitectureTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    /// Every file under `folder` with one of the extensions, as (path relative to the root, text).
    static func files(under folder: String, extensions: Set<String>) -> [(path: String, text: String)] {
        let base = root.appendingPathComponent(folder)
        guard let walker = FileManager.default.enumerator(at: base, includingPropertiesForKeys: nil) else { return [] }
        var found: [(String, String)] = []
        for case let url as URL in walker where extensions.contains(url.pathExtension) {
            guard let text = try? String(contentsOf: url, encoding: .utf8) else { continue }
            found.append((String(url.path.dropFirst(root.path.count + 1)), text))
        }
        return found.sorted { $0.0 < $1.0 }
    }

    /// Lines outside comments.
    static func codeLines(_ text: String) -> [Substring] {
        text.split(separator: "\n").filter { !$0.drop(while: { $0 == " " }).hasPrefix("//") }
    }

    static let keyPrefixes = [
        "token:info:", "user:tokens:", "revoked:token:", "active_user:", "active_user_metadata:", "active_user_deleted:",
        "admin:emails", "cleanup:log", "gw:",
    ]

    @Test func keyspaceIsTheOnlyPlaceThatSpellsARedisKey() {
        var offenders: [String] = []
        for file in Self.files(under: "Sources", extensions: ["swift"]) where !file.path.hasSuffix("/Keyspace.swift") {
            for line in Self.codeLines(file.text) where line.contains("\"") {
                if Self.keyPrefixes.contains(where: { line.contains($0) }) { offenders.append("\(file.path): \(line)") }
            }
        }
        #expect(offenders.isEmpty, "key literals outside Keyspace.swift:\n\(offenders.joined(separator: "\n"))")
    }

    /// The Lua text of the cleanup's and the index passes' scripts spells no key: every key
    /// comes in `KEYS` from `Keyspace` (neither a prefix such as `'token:info:' .. id` nor an
    /// interpolated `\(AdminIndex.tokens)`).
    @Test func cleanupAndIndexScriptsTakeEveryKeyInKEYS() {
        var offenders: [String] = []
        var scripts = 0
        for file in Self.files(under: "Sources/Handlers", extensions: ["swift"])
        where file.path.contains("/Cleanup/") || file.path.contains("/Admin/Index") {
            var inLua = false
            for line in file.text.split(separator: "\n") {
                if line.contains("\"\"\"") {
                    inLua.toggle()
                    if inLua { scripts += 1 }
                    continue
                }
                guard inLua else { continue }
                let line = line.replacingOccurrences(of: "\\(AdminIndex.forever)", with: "")  // a number, not a key
                let spelled = Self.keyPrefixes.contains { line.contains($0) } || line.contains("'active_users'")
                if spelled || line.contains("\\(AdminIndex.") || line.contains("\\(Keyspace.") {
                    offenders.append("\(file.path): \(line)")
                }
            }
        }
        #expect(scripts >= 9)
        #expect(offenders.isEmpty, "keys spelled in Lua:\n\(offenders.joined(separator: "\n"))")
    }

    /// The revocation watch trusts that every change of a revocation or ban is one it was told
    /// about and waited for: `Revocations` writes them; the others only read.
    @Test func onlyRevocationsWritesWatchedKeys() {
        let watched = ["Keyspace.revokedToken", "Keyspace.ban(", "Keyspace.banPrefix", "Keyspace.revokedTokenPrefix", "watchedPrefixes"]
        let readers: Set<String> = [
            "Sources/GatewayCore/Redis/RevocationWatch.swift",  // subscribes to changes under the prefixes
            "Sources/Handlers/Access/Tracking.swift",  // the access check reads revocation and ban
            "Sources/Handlers/Sessions/SessionAdmin.swift",  // lists bans
            "Sources/Handlers/Admin/IndexPass.swift",  // indexes the bans and revocations it finds
            "Sources/Handlers/Cleanup/CleanupRunner.swift",  // its scripts read whether a revocation or ban still stands
        ]
        let writes = ["\"SET\"", "\"DEL\"", "\"EXPIRE\"", "\"PERSIST\"", "\"RENAME\"", "\"UNLINK\"", "\"GETDEL\""]
        var offenders: [String] = []
        for file in Self.files(under: "Sources", extensions: ["swift"]) {
            if file.path.hasSuffix("/Keyspace.swift") || file.path.hasSuffix("/Revocations.swift") { continue }
            for line in Self.codeLines(file.text) where watched.contains(where: { line.contains($0) }) {
                if !readers.contains(file.path) || writes.contains(where: { line.contains($0) }) {
                    offenders.append("\(file.path): \(line)")
                }
            }
        }
        #expect(offenders.isEmpty, "watched keys named outside Revocations:\n\(offenders.joined(separator: "\n"))")
    }

    /// docs/architecture.md's keyspace table lists exactly `Keyspace.documented`, in order.
    @Test func docsKeyspaceTableMirrorsKeyspace() throws {
        let text = try String(contentsOf: Self.root.appendingPathComponent("docs/architecture.md"), encoding: .utf8)
        let section = try #require(text.components(separatedBy: "## Redis keyspace").dropFirst().first)
        let rows = section.components(separatedBy: "\n## ")[0].split(separator: "\n").filter { $0.hasPrefix("| `") }
        let keys = rows.compactMap { row in row.split(separator: "`").dropFirst().first.map(String.init) }
        #expect(keys == Keyspace.documented)
    }

    /// The contract lives in this repository: no file points at documents a user does not have.
    @Test func repositoryReferencesNothingOutsideIt() {
        let folders = ["Sources", "Tests", "docs", "openresty", "scripts", "deploy", "dev", "bench", "ui", "Fuzz/Sources"]
        let extensions: Set<String> = ["swift", "py", "md", "conf", "js", "html", "css", "yaml", "yml", "sh", "txt", "toml", ""]
        let forbidden = try! Regex(#"\.\.[/]shared|/work[/]shared|SPEC\.md|SPEC (section )?[0-9]"#)
        var offenders: [String] = []
        var all = folders.flatMap { Self.files(under: $0, extensions: extensions) }
        for name in ["README.md", "Makefile", "Dockerfile", "compose.yaml", ".env.example"] {
            if let text = try? String(contentsOf: Self.root.appendingPathComponent(name), encoding: .utf8) { all.append((name, text)) }
        }
        for file in all where !file.path.hasSuffix("ArchitectureTests.swift") {
            for line in file.text.split(separator: "\n") where line.contains(forbidden) { offenders.append("\(file.path): \(line)") }
        }
        #expect(offenders.isEmpty, "references to documents outside the repository:\n\(offenders.joined(separator: "\n"))")
    }

    /// The lines of the body of `func <name>(` in `text` (up to its closing brace at the same indent).
    static func body(of name: String, in text: String) -> [Substring] {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        guard let start = lines.firstIndex(where: { $0.contains("func \(name)(") }) else { return [] }
        let indent = lines[start].prefix { $0 == " " }
        guard let end = lines[(start + 1)...].firstIndex(where: { $0 == indent + "}" }) else { return [] }
        return Array(lines[(start + 1)..<end])
    }

    /// Rules that depend on who holds a /v1 token, run after the token passed.
    static let perTokenRules = ["ObjectOwners.check("]

    /// The /v1 check has one exit for an allowed call, `JWTAccess.allowed`: a remembered token
    /// and a token read from Redis both produce a `Pass` that goes through it, every per-token
    /// rule is called there and nowhere else, and nothing else in the check builds the allow.
    @Test func jwtCheckHasOneExitForAllowed() throws {
        let sources = Self.files(under: "Sources", extensions: ["swift"])
        let access = try #require(sources.first { $0.path == "Sources/Handlers/Access/JWTAccess.swift" })
        let exit = Self.body(of: "allowed", in: access.text).filter { !$0.drop(while: { $0 == " " }).hasPrefix("//") }
        #expect(!exit.isEmpty, "JWTAccess.allowed not found")
        var calls: [String] = []
        var offenders: [String] = []
        let call = try Regex(#"(^|[^A-Za-z0-9_.])allowed\("#)
        for file in sources {
            for line in Self.codeLines(file.text) {
                if line.contains(call) && !line.contains("func allowed(") { calls.append("\(file.path): \(line)") }
                let builds = file.path == access.path && (line.contains("Response(") || line.contains("upstreamLocation)"))
                let rule = Self.perTokenRules.contains { line.contains($0) }
                if (builds || rule) && !exit.contains(line) { offenders.append("\(file.path): \(line)") }
            }
        }
        #expect(calls.count == 1, "allowed( called from more than one place:\n\(calls.joined(separator: "\n"))")
        for rule in Self.perTokenRules {
            #expect(exit.contains { $0.contains(rule) }, "per-token rule \(rule) not in the one exit")
        }
        #expect(offenders.isEmpty, "allow built or per-token rule run outside JWTAccess.allowed:\n\(offenders.joined(separator: "\n"))")
    }

    /// Access policy lives in one folder: route access levels, same-origin, the admin rule,
    /// tracking, the /v1 check and its remembered tokens.
    @Test func accessPolicyIsInTheAccessFolder() {
        let names = ["BrowserPolicy", "SameOrigin", "Admins", "Tracking", "JWTAccess", "JWTCheckCache", "ObjectOwners", "IdentityPolicy"]
        let paths = Set(Self.files(under: "Sources/Handlers/Access", extensions: ["swift"]).map(\.path))
        let missing = names.filter { !paths.contains("Sources/Handlers/Access/\($0).swift") }
        #expect(missing.isEmpty, "access policy outside Sources/Handlers/Access: \(missing)")
    }

    /// Every Lua script in Sources: its text (between the `\"\"\"` of a file that makes a
    /// `RedisScript`), with the names of the key lists it gets besides `KEYS` (`moreKeys:`).
    static func luaScripts() -> [(path: String, lua: [Substring], keyLists: Set<String>)] {
        var scripts: [(String, [Substring], Set<String>)] = []
        for file in files(under: "Sources", extensions: ["swift"]) where file.text.contains("RedisScript(") {
            let parts = file.text.components(separatedBy: "\"\"\"")
            for index in stride(from: 1, to: parts.count, by: 2) {
                let head = parts[index - 1].components(separatedBy: "RedisScript(").last ?? ""
                let more = head.firstMatch(of: /moreKeys: "(\w+)"/).map { Set([String($0.1)]) } ?? []
                scripts.append((file.path, parts[index].split(separator: "\n"), more))
            }
        }
        return scripts
    }

    /// Every key a Lua script touches comes in `KEYS` (named `KEY.x`, a `KEYS[...]` entry, a
    /// `moreKeys` list, or a local taken from one of those): no key is built inside Lua
    /// (`ARG.prefix .. id`, `'token:info:' .. id`, an interpolated `\(Keyspace.x)`), so every
    /// key comes from `Keyspace` and the script declares what it touches.
    @Test func everyLuaScriptTakesEveryKeyInKEYS() throws {
        let keyless: Set<String> = ["TIME"]
        var offenders: [String] = []
        let scripts = Self.luaScripts()
        for script in scripts {
            var keyNames = script.keyLists.union(["KEYS"])
            let fromKeys = { (expression: Substring) -> Bool in
                let text = expression.trimmingCharacters(in: .whitespaces)
                return text.hasPrefix("KEY.") || text.hasPrefix("{KEY.") || keyNames.contains(text)
                    || keyNames.contains { text.hasPrefix($0 + "[") }
            }
            for line in script.lua {
                if let loop = line.firstMatch(of: /for _, (\w+) in ipairs\((.+)\) do/), fromKeys(loop.2) {
                    keyNames.insert(String(loop.1))
                }
                if let local = line.firstMatch(of: /^\s*local ([\w, ]+) = (.+)$/) {
                    let names = local.1.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
                    let values = local.2.split(separator: ",")
                    for (name, value) in zip(names, values) where fromKeys(value) { keyNames.insert(name) }
                }
                let spelled = Self.keyPrefixes.contains { line.contains($0) } || line.contains("'active_users'")
                if spelled || line.contains("\\(Keyspace.") || line.contains("\\(AdminIndex.") && !line.contains("AdminIndex.forever") {
                    offenders.append("\(script.path): \(line)")
                }
                for call in line.matches(of: /redis\.call\('(\w+)'(?:, ([^,)]+))?/) where !keyless.contains(String(call.1)) {
                    guard let key = call.2, !key.contains(".."), fromKeys(key) else {
                        offenders.append("\(script.path): \(line)")
                        continue
                    }
                }
            }
        }
        #expect(scripts.count >= 14)
        #expect(offenders.isEmpty, "keys not taken from KEYS in Lua:\n\(offenders.joined(separator: "\n"))")
    }

    /// The Python that LiteLLM loads (deploy/litellm, dev/litellm) reads and writes gateway keys:
    /// it spells each key prefix once, as a `NAME_PREFIX = "..."` constant, and each is a prefix
    /// of `Keyspace` (the text before the placeholder of a documented key); no other line of
    /// code spells a key.
    @Test func pythonKeyPrefixesMatchKeyspace() throws {
        let keyspace = Set(Keyspace.documented.compactMap { $0.split(separator: "{", maxSplits: 1).first.map(String.init) })
        let python = Self.files(under: "deploy/litellm", extensions: ["py"]) + Self.files(under: "dev/litellm", extensions: ["py"])
        var constants: [String: String] = [:]
        var offenders: [String] = []
        for file in python {
            var inDocstring = false
            for line in file.text.split(separator: "\n") {
                let quotes = line.ranges(of: "\"\"\"").count
                if quotes % 2 == 1 { inDocstring.toggle() }
                let code = line.trimmingCharacters(in: .whitespaces)
                if inDocstring || quotes > 0 || code.hasPrefix("#") { continue }
                if let constant = code.wholeMatch(of: /([A-Z_]+_PREFIX) = "([^"]*)"/) {
                    constants["\(file.path): \(constant.1)"] = String(constant.2)
                    if !keyspace.contains(String(constant.2)) { offenders.append("\(file.path): \(line) (not a Keyspace prefix)") }
                } else if (Self.keyPrefixes + ["gw:"]).contains(where: { code.contains("\"\($0)") || code.contains("\'\($0)") }) {
                    offenders.append("\(file.path): \(line) (a key spelled outside a *_PREFIX constant)")
                }
            }
        }
        let found = Set(constants.values)
        for prefix in [Keyspace.revokedTokenPrefix, Keyspace.banPrefix, Keyspace.objectOwnerPrefix] {
            #expect(found.contains(prefix), "no Python constant for \(prefix)")
        }
        #expect(offenders.isEmpty, "Python key prefixes that do not match Keyspace:\n\(offenders.joined(separator: "\n"))")
    }
}
