import Foundation
import Logging

/// `LOG_FORMAT=json`: one JSON object per line on standard error — time, level, label,
/// message and the metadata (with `request.id`, nginx's `$request_id`, on request logs), so a
/// log pipeline can join a worker line to nginx's access log and LiteLLM's log of the same
/// request (docs/operations.md). Values are the metadata's text; nothing else is added.
public struct JSONLogHandler: LogHandler {
    public var logLevel: Logger.Level = .info
    public var metadata: Logger.Metadata = [:]
    private let label: String

    public init(label: String) { self.label = label }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var fields: [(String, JSON)] = [
            ("time", .string(JSONLogHandler.timestamp())), ("level", .string(event.level.rawValue)),
            ("label", .string(label)), ("message", .string(event.message.description)),
        ]
        let merged = metadata.merging(event.metadata ?? [:]) { $1 }
        for key in merged.keys.sorted() {
            if let value = merged[key] { fields.append((key, .string(value.description))) }
        }
        // One write per line: lines of concurrent threads do not interleave in an appended file.
        FileHandle.standardError.write(Data((JSON.object(fields).text + "\n").utf8))
    }

    static func timestamp() -> String {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        var parts = tm()
        var seconds = now.tv_sec
        gmtime_r(&seconds, &parts)
        return String(
            format: "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", parts.tm_year + 1900, parts.tm_mon + 1, parts.tm_mday,
            parts.tm_hour, parts.tm_min, parts.tm_sec, now.tv_nsec / 1_000_000)
    }

    /// The handler LOG_FORMAT asks for (`json`, else swift-log's text to standard error).
    public static func bootstrap(environment: [String: String]) {
        let level = Logger.Level(rawValue: environment["LOG_LEVEL"] ?? "info") ?? .info
        let json = environment["LOG_FORMAT"] == "json"
        LoggingSystem.bootstrap { label in
            if json {
                var handler = JSONLogHandler(label: label)
                handler.logLevel = level
                return handler
            }
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
    }
}
