import FCGIRuntime
import GatewayCore

public typealias Handler = @Sendable (Request, Context) throws -> Response

public struct Route: Sendable {
    public let method: String?
    /// An exact path, or a prefix ending in `/` when `prefix` is true (the rest is the
    /// handler's to read from `request.path`).
    public let path: String
    public let prefix: Bool
    public let access: Access
    public let handler: Handler

    public init(_ method: String? = nil, _ path: String = "", prefix: Bool = false, access: Access, _ handler: @escaping Handler) {
        self.method = method
        self.path = path
        self.prefix = prefix
        self.access = access
        self.handler = handler
    }

    func matches(path candidate: String) -> Bool {
        prefix ? candidate.hasPrefix(path) && candidate.count > path.count : candidate == path
    }
}
