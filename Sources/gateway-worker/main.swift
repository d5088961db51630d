import FCGIRuntime
import Foundation
import GatewayCore
import Handlers
import Logging

// The gateway's FastCGI worker: nginx → this process (Router) → handler → Redis → answer.
//
//   gateway-worker                 serve FastCGI on WORKER_SOCKET (WORKER_PROCESSES=N: N supervised processes)
//   gateway-worker --cgi           answer one request from the environment and stdin (debugging)
//   gateway-worker --check-config  validate the environment and exit

// LOG_LEVEL; LOG_FORMAT=json: one JSON object a line (docs/operations.md).
JSONLogHandler.bootstrap(environment: ProcessInfo.processInfo.environment)
let logger = Logger(label: "gateway-worker")
let environment = ProcessInfo.processInfo.environment
let arguments = CommandLine.arguments.dropFirst()

let config: Config
let options: ServerOptions
do {
    config = try Config(environment: environment)
    options = try WorkerSettings.serverOptions(environment: environment, defaultSocket: "/run/llm-gateway/worker.sock")
} catch {
    FileHandle.standardError.write(Data("gateway-worker: \(error)\n".utf8))
    exit(78)  // EX_CONFIG
}

if arguments.contains("--check-config") {
    print("configuration ok")
    exit(0)
}
if arguments.contains("--cgi") {
    exit(CGIMode.answerOne(with: Router(config: config, logger: logger), maxBodyBytes: options.maxBodyBytes))
}
if config.cleanupInterval > 0 {
    // The scheduled Redis cleanup (CLEANUP_INTERVAL_SECONDS): a thread of its own with its own
    // Redis connection; a Redis lock lets one worker process run it per interval.
    Thread.detachNewThread { CleanupSchedule.loop(config: config, logger: logger) }
}
// The admin indexes build themselves when missing or older, and a periodic pass adds what
// another writer stored (IndexBuild; INDEX_RECONCILE_SECONDS). Not in the supervisor: its
// worker processes run it (a lock lets one pass run at a time).
if options.processes <= 1 || options.inheritedListener != nil {
    Thread.detachNewThread { IndexBuild.loop(config: config, logger: logger) }
}
do {
    if options.processes > 1 && options.inheritedListener == nil {
        try Supervisor(options: options, logger: logger).run()
    }
    // One revocation watch per process (see RevocationWatch): lets the /v1 check skip Redis
    // for tokens it let through a moment ago, and never miss a revocation or ban.
    let watch: RevocationWatch? = config.revocationWatch ? RevocationWatch(options: config.redis, logger: logger) : nil
    watch?.start()
    try FCGIServer(options: options, logger: logger).run { Router(config: config, logger: logger, watch: watch) }
} catch {
    FileHandle.standardError.write(Data("gateway-worker: \(error)\n".utf8))
    exit(71)
}
