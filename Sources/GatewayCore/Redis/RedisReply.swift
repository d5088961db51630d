/// A Redis reply: a value, null, or an error Redis answered with. Transport failures are
/// not replies: they are thrown as `RedisError`.
public enum RedisReply: Sendable, Equatable {
    case string(String)
    case status(String)
    case integer(Int64)
    case array([RedisReply])
    case null
    case error(String)

    public var string: String? {
        switch self {
        case .string(let value), .status(let value): value
        default: nil
        }
    }

    public var integer: Int64? {
        switch self {
        case .integer(let value): value
        case .string(let value): Int64(value)
        default: nil
        }
    }

    public var array: [RedisReply] { if case .array(let values) = self { values } else { [] } }

    public var strings: [String] { array.compactMap(\.string) }

    /// The reply, or `RedisError.server` when Redis answered with an error.
    @inlinable
    public func checked() throws(RedisError) -> RedisReply {
        if case .error(let message) = self { throw .server(message) }
        return self
    }
}

public enum RedisError: Error, Sendable, Equatable, CustomStringConvertible {
    case connect(String)
    case timeout
    case connection(String)
    case server(String)
    case protocolError(String)
    /// A write the gateway was about to confirm reached the master, but fewer replicas than
    /// REDIS_WAIT_REPLICAS acknowledged it within REDIS_WAIT_TIMEOUT_MS (`WAIT`).
    case notReplicated(acknowledged: Int, wanted: Int)

    public var description: String {
        switch self {
        case .connect(let reason): "Redis unreachable: \(reason)"
        case .timeout: "Redis did not answer in time"
        case .connection(let reason): "Redis connection failed: \(reason)"
        case .server(let reason): "Redis error: \(reason)"
        case .protocolError(let reason): "Redis protocol error: \(reason)"
        case .notReplicated(let acknowledged, let wanted): "Redis replicas confirmed \(acknowledged) of \(wanted) in time"
        }
    }
}
