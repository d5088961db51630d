import GatewayCore

/// The process settings of a worker binary (socket, threads, body limit), from the environment.
public enum WorkerSettings {
    public static func serverOptions(environment: [String: String], defaultSocket: String, prefix: String = "WORKER")
        throws(ConfigError) -> ServerOptions
    {
        let reader = EnvironmentReader(environment)
        var options = ServerOptions(socketPath: reader.string("\(prefix)_SOCKET") ?? defaultSocket)
        options.threads = Int(try reader.integer("\(prefix)_THREADS", default: 16, range: 1...1024))
        options.socketGroup = reader.string("\(prefix)_SOCKET_GROUP")
        if let mode = reader.string("\(prefix)_SOCKET_MODE") {
            guard let bits = UInt32(mode, radix: 8), bits <= 0o777 else {
                throw .invalid("\(prefix)_SOCKET_MODE", "must be octal, e.g. 660")
            }
            options.socketMode = bits
        }
        options.maxBodyBytes = Int(try reader.integer("MAX_BODY_BYTES", default: 1 << 20, range: 1024...(1 << 30)))
        options.drainSeconds = Double(try reader.integer("\(prefix)_DRAIN_SECONDS", default: 10, range: 0...600))
        options.processes = Int(try reader.integer("\(prefix)_PROCESSES", default: 1, range: 1...256))
        if let inherited = reader.string(Supervisor.listenFDVariable) {
            guard let fd = Int32(inherited), fd >= 0 else {
                throw .invalid(Supervisor.listenFDVariable, "must be a file descriptor number")
            }
            options.inheritedListener = fd
        }
        return options
    }
}
