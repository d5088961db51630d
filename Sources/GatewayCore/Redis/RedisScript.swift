/// A Lua script with its SHA-1, computed once.
///
/// Keys and arguments are named: `RedisScript(keys: ["ban"], arguments: ["now"], body)` puts
/// `local KEY = {ban = KEYS[1]}` and `local ARG = {now = ARGV[1]}` before the body, which then
/// reads `KEY.ban` and `ARG.now`; `RedisClient.eval` takes the values by the same names, in the
/// same order. A script that also takes a list of keys known only at the call (a user's
/// sessions) names that list: `moreKeys: "sessions"` puts `local sessions = {unpack(KEYS, n + 1)}`
/// (the keys after the n named ones) before the body. Scripts over any number of keys
/// (`RedisScript(lists:)`) read `KEYS` and `ARGV`.
public struct RedisScript: Sendable {
    public let source: String
    public let sha1: String
    public let keyNames: [String]
    public let argumentNames: [String]
    public let takesLists: Bool

    public init(keys: [String], arguments: [String], moreKeys: String? = nil, _ body: String) {
        keyNames = keys
        argumentNames = arguments
        takesLists = false
        let more = moreKeys.map { "local \($0) = {unpack(KEYS, \(keys.count + 1))}\n" } ?? ""
        source = RedisScript.table("KEY", keys, "KEYS") + RedisScript.table("ARG", arguments, "ARGV") + more + body
        sha1 = Crypto.sha1Hex(Array(source.utf8))
    }

    /// A script whose comment says what its `KEYS` and `ARGV` lists hold.
    public init(lists body: String) {
        keyNames = []
        argumentNames = []
        takesLists = true
        source = body
        sha1 = Crypto.sha1Hex(Array(body.utf8))
    }

    private static func table(_ name: String, _ fields: [String], _ source: String) -> String {
        guard !fields.isEmpty else { return "" }
        let entries = fields.enumerated().map { "\($1) = \(source)[\($0 + 1)]" }
        return "local \(name) = {" + entries.joined(separator: ", ") + "}\n"
    }
}
