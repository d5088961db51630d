import FCGIRuntime
import Foundation
import GatewayCore
import Logging

// DEVELOPMENT ONLY. A stand-in for OAuth2 Proxy (see DevIdentity.swift). It refuses to start
// unless GATEWAY_DEV_RUN=1 says, explicitly, that this is a developer's machine or a test run.

JSONLogHandler.bootstrap(environment: ProcessInfo.processInfo.environment)
let logger = Logger(label: "dev-identity")
let environment = ProcessInfo.processInfo.environment

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("dev-identity: \(message)\n".utf8))
    exit(78)
}

guard environment["GATEWAY_DEV_RUN"] == "1" else {
    fail(
        "refusing to start: this is the development identity service (anyone can sign in as anyone). "
            + "Set GATEWAY_DEV_RUN=1 for a local run or tests; production uses OAuth2 Proxy.")
}
guard let secret = environment["OAUTH2_PROXY_COOKIE_SECRET"], secret.utf8.count >= 16 else {
    fail("configuration error: OAUTH2_PROXY_COOKIE_SECRET is required (at least 16 bytes)")
}
let settings: DevIdentitySettings
let options: ServerOptions
do {
    settings = DevIdentitySettings(
        redis: try RedisOptions(environment: environment),
        cookieName: environment["OAUTH2_PROXY_COOKIE_NAME"].flatMap { $0.isEmpty ? nil : $0 } ?? "_oauth2_proxy",
        cookieSecret: Array(secret.utf8),
        cookieExpire: Int64(environment["DEV_IDENTITY_COOKIE_EXPIRE"] ?? "") ?? 604_800,
        secureCookie: environment["DEV_IDENTITY_SECURE_COOKIE"] == "1")
    options = try WorkerSettings.serverOptions(
        environment: environment, defaultSocket: "/run/llm-gateway/identity.sock", prefix: "DEV_IDENTITY")
} catch {
    fail("\(error)")
}
logger.warning("DEVELOPMENT identity service: anyone can sign in as anyone; never expose it")
do {
    try FCGIServer(options: options, logger: logger).run { DevIdentity(settings: settings, logger: logger) }
} catch {
    fail("\(error)")
}
