/// One request as a handler sees it: no C pointers, only values.
///
/// The runtime builds it from the FastCGI parameters (or, in CGI mode, from the
/// environment). Client headers arrive as `HTTP_*` parameters; values nginx sets
/// itself (such as the identity it got from OAuth2 Proxy) arrive under other names
/// and cannot be forged by a client.
public struct Request: Sendable {
    public var method: String
    /// The path without the query string, as nginx normalised it (`$uri`).
    public var path: String
    /// The raw query string, without the `?`.
    public var query: String
    public var params: [String: String]
    public var body: [UInt8]

    public init(method: String, path: String, query: String = "", params: [String: String] = [:], body: [UInt8] = []) {
        self.method = method
        self.path = path
        self.query = query
        self.params = params
        self.body = body
    }

    /// Builds a request from FastCGI/CGI parameters.
    public init(params: [String: String], body: [UInt8]) {
        let query = params["QUERY_STRING"] ?? ""
        var path = params["DOCUMENT_URI"] ?? params["SCRIPT_NAME"] ?? ""
        if path.isEmpty, let uri = params["REQUEST_URI"] {
            path = String(uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first ?? "")
        }
        self.init(method: params["REQUEST_METHOD"] ?? "GET", path: path, query: query, params: params, body: body)
    }

    /// A client header, by its HTTP name (`Authorization`, `Cookie`, ...).
    public func header(_ name: String) -> String? {
        params[Request.paramName(forHeader: name)]
    }

    /// The first value of a query parameter, percent-decoded (`+` is a space, as in forms).
    public func queryValue(_ name: String) -> String? {
        for pair in query.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            if let key = parts.first.flatMap({ PercentDecoding.decode($0, plusIsSpace: true) }), key == name {
                return parts.count > 1 ? PercentDecoding.decode(parts[1], plusIsSpace: true) : ""
            }
        }
        return nil
    }

    /// Whether every name and value of the query string percent-decodes to valid UTF-8
    /// without NUL bytes.
    public var queryIsWellFormed: Bool {
        query.split(separator: "&").allSatisfy { pair in
            pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false).allSatisfy { part in
                PercentDecoding.decode(part, plusIsSpace: true).map { !$0.utf8.contains(0) } ?? false
            }
        }
    }

    static func paramName(forHeader name: String) -> String {
        "HTTP_" + String(name.uppercased().map { $0 == "-" ? "_" : $0 })
    }
}

/// Percent-decoding that refuses malformed escapes and invalid UTF-8 instead of guessing.
public enum PercentDecoding {
    public static func decode<S: StringProtocol>(_ text: S, plusIsSpace: Bool) -> String? {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.utf8.count)
        var iterator = text.utf8.makeIterator()
        while let byte = iterator.next() {
            switch byte {
            case UInt8(ascii: "%"):
                guard let high = iterator.next().flatMap(hexValue), let low = iterator.next().flatMap(hexValue) else {
                    return nil
                }
                bytes.append(high << 4 | low)
            case UInt8(ascii: "+") where plusIsSpace:
                bytes.append(UInt8(ascii: " "))
            default:
                bytes.append(byte)
            }
        }
        return String(validating: bytes, as: UTF8.self)
    }

    /// The value of one hexadecimal digit (either case), nil for any other byte.
    public static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
