import FCGIRuntime
import GatewayCore

/// The request-target check in front of every location the worker checks (`GATEWAY_CHECK`),
/// see docs/security.md "Exact paths to LiteLLM".
///
/// nginx matches its location and the worker checks the normalised, decoded path (`$uri`,
/// `DOCUMENT_URI`); LiteLLM routes on whatever path it receives, without normalising. So the
/// worker refuses every raw target (`REQUEST_URI`) whose meaning depends on who decodes it,
/// and for an accepted one names the exact path nginx must forward (`X-Gateway-Path`):
/// the checked path itself, percent-encoded where a byte is not a plain path character, which
/// LiteLLM decodes back to exactly the checked path.
public enum RequestTarget {
    public static let ambiguousCode = ErrorCode.ambiguousPath

    /// The path to forward for `raw` (the request target as the client sent it, query
    /// included) when it means exactly `normalised` (nginx's `$uri`); nil when it is ambiguous:
    /// dot segments, `//`, backslashes, `#`, spaces, control or non-ASCII bytes, percent-encoded
    /// `.` `/` `\` `?` `#` `%` or control bytes, malformed escapes, invalid UTF-8, or a decoded
    /// form that is not `normalised`. A clean target (the usual case) costs one scan and no
    /// allocation: the answer is `normalised` itself.
    public static func forwardPath(raw: String, normalised: String) -> String? {
        var plain = true
        var previous: UInt8 = 0
        var segmentStart = true
        var segmentDots = 0
        var count = 0
        for byte in raw.utf8 {
            if byte == UInt8(ascii: "?") { break }
            count += 1
            if count == 1, byte != UInt8(ascii: "/") { return nil }
            if byte == UInt8(ascii: "/") {
                if previous == UInt8(ascii: "/") { return nil }  // `//` (nginx merges slashes, LiteLLM does not)
                if segmentStart, segmentDots > 0 { return nil }  // `/./` or `/../`
                segmentStart = true
                segmentDots = 0
            } else {
                if byte == UInt8(ascii: "."), segmentStart, segmentDots < 2 {
                    segmentDots += 1
                } else {
                    segmentStart = false
                    segmentDots = 0
                }
                if !isPlain(byte) {
                    guard isLiteralAllowed(byte) else { return nil }
                    plain = false
                }
            }
            previous = byte
        }
        if segmentStart, segmentDots > 0 { return nil }  // trailing `/.` or `/..`
        if count == 0 { return nil }
        if plain {
            // No escapes: nginx's decoded path must be the raw one, byte for byte.
            guard raw.utf8.prefix(count).elementsEqual(normalised.utf8) else { return nil }
            return normalised
        }
        return slowPath(raw: raw.utf8.prefix(count), normalised: normalised)
    }

    /// Escapes or unusual but harmless literal characters: decode, compare, re-encode.
    private static func slowPath(raw: Substring.UTF8View, normalised: String) -> String? {
        var decoded: [UInt8] = []
        decoded.reserveCapacity(raw.count)
        var iterator = raw.makeIterator()
        while let byte = iterator.next() {
            guard byte == UInt8(ascii: "%") else {
                decoded.append(byte)
                continue
            }
            guard let high = iterator.next().flatMap(PercentDecoding.hexValue), let low = iterator.next().flatMap(PercentDecoding.hexValue)
            else { return nil }
            let value = high << 4 | low
            switch value {
            case 0..<0x20, 0x7F, UInt8(ascii: "."), UInt8(ascii: "/"), UInt8(ascii: "\\"), UInt8(ascii: "?"),
                UInt8(ascii: "#"), UInt8(ascii: "%"):
                return nil
            default:
                decoded.append(value)
            }
        }
        // Bytes, not String equality (which would equate canonically equivalent forms).
        guard String(validating: decoded, as: UTF8.self) != nil, decoded.elementsEqual(normalised.utf8) else { return nil }
        var encoded = ""
        encoded.reserveCapacity(decoded.count * 3)
        for byte in decoded {
            if isPlain(byte) {
                encoded.unicodeScalars.append(Unicode.Scalar(byte))
            } else {
                encoded += "%"
                encoded.unicodeScalars.append(Unicode.Scalar(hexDigits[Int(byte >> 4)]))
                encoded.unicodeScalars.append(Unicode.Scalar(hexDigits[Int(byte & 0x0F)]))
            }
        }
        return encoded
    }

    /// RFC 3986 path characters that need no escape: unreserved, sub-delims, `:`, `@`, `/`.
    @inline(__always)
    public static func isPlain(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
            UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"), UInt8(ascii: "!"), UInt8(ascii: "$"),
            UInt8(ascii: "&"), UInt8(ascii: "'"), UInt8(ascii: "("), UInt8(ascii: ")"), UInt8(ascii: "*"), UInt8(ascii: "+"),
            UInt8(ascii: ","), UInt8(ascii: ";"), UInt8(ascii: "="), UInt8(ascii: ":"), UInt8(ascii: "@"), UInt8(ascii: "/"):
            true
        default: false
        }
    }

    /// Other literal bytes accepted (then re-encoded): `%` escapes and printable ASCII that
    /// is neither a backslash nor `#`. Spaces, control bytes and non-ASCII bytes are refused.
    private static func isLiteralAllowed(_ byte: UInt8) -> Bool {
        byte > 0x20 && byte < 0x7F && byte != UInt8(ascii: "\\") && byte != UInt8(ascii: "#")
    }

    private static let hexDigits = Array("0123456789ABCDEF".utf8)

    /// The longest path (as forwarded, re-encoded) a check names in `X-Gateway-Path`. nginx
    /// accepts request lines up to 8 KB (`large_client_header_buffers`), so a plain path always
    /// fits; only re-encoding (a `|` becomes `%7C`) can exceed it. The check locations' FastCGI
    /// buffer (32 KB) holds this path with every other header of an allow answer.
    public static let maxForwardBytes = 8192

    /// A path whose forwarded form is longer than `maxForwardBytes`: 414 JSON (never nginx's
    /// "upstream sent too big header" 502/503).
    static func tooLong(check: String) -> APIError {
        let message = "Request path too long"
        return check == GatewayCheck.jwt.rawValue
            ? .openAI(414, type: "invalid_request_error", code: .uriTooLong, message: message)
            : APIError(414, .uriTooLong, message)
    }

    /// The refusal: 400 JSON, OpenAI-shaped on /v1 (`jwt`), the gateway's shape elsewhere.
    static func refusal(check: String) -> APIError {
        let message = "Ambiguous request path (dot segments, repeated slashes, backslashes or encoded separators are not accepted)"
        return check == GatewayCheck.jwt.rawValue
            ? .openAI(400, type: "invalid_request_error", code: ambiguousCode, message: message)
            : APIError(400, ambiguousCode, message)
    }
}
