import GatewayCore

/// What a handler answers. The runtime writes it in CGI form (`Status:` line,
/// headers, blank line, body) to the FastCGI stream or to stdout.
public struct Response: Sendable {
    public var status: Int
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]

    public init(status: Int, headers: [(name: String, value: String)] = [], body: [UInt8] = []) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// A JSON response from already-encoded JSON text.
    public static func json(_ status: Int, _ text: String, headers: [(name: String, value: String)] = []) -> Response {
        Response(
            status: status,
            headers: [("Content-Type", "application/json"), ("Cache-Control", "no-store")] + headers,
            body: Array(text.utf8)
        )
    }

    /// The CGI response head: `Status: 200 OK\r\n`, one line per header, blank line.
    /// Header values containing CR or LF are dropped: a handler can never split the response.
    public func encodedHead() -> [UInt8] {
        var head: [UInt8] = []
        head.reserveCapacity(256)
        head += "Status: ".utf8
        head += String(status).utf8
        head.append(UInt8(ascii: " "))
        head += Response.reason(status).utf8
        head += "\r\n".utf8
        for (name, value) in headers where !value.utf8.contains(where: { $0 == 0x0D || $0 == 0x0A || $0 == 0 }) {
            head += name.utf8
            head += ": ".utf8
            head += value.utf8
            head += "\r\n".utf8
        }
        head += "\r\n".utf8
        return head
    }

    public static func reason(_ status: Int) -> String {
        switch status {
        case 200: "OK"
        case 201: "Created"
        case 202: "Accepted"
        case 204: "No Content"
        case 302: "Found"
        case 400: "Bad Request"
        case 401: "Unauthorized"
        case 403: "Forbidden"
        case 404: "Not Found"
        case 405: "Method Not Allowed"
        case 409: "Conflict"
        case 413: "Payload Too Large"
        case 414: "URI Too Long"
        case 415: "Unsupported Media Type"
        case 429: "Too Many Requests"
        case 500: "Internal Server Error"
        case 502: "Bad Gateway"
        case 503: "Service Unavailable"
        default: "Status"
        }
    }
}

/// Answers requests on one thread. Each accept thread makes its own responder,
/// so a responder may own C handles (a Redis connection) without locking.
public protocol Responder {
    func respond(to request: Request) -> Response

    /// The answer to a request the runtime refused before any handler ran (a body over the
    /// limit). `Router` renders it as it renders the handlers' errors.
    func respond(to error: APIError, for request: Request) -> Response
}

extension Responder {
    public func respond(to error: APIError, for request: Request) -> Response { error.response }
}
