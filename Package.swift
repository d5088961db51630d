// swift-tools-version:6.0
import PackageDescription

// Layers, each depending only on the ones above it (docs/architecture.md):
//   GatewayCore   Redis client and revocation watch, JSON, crypto + JWT, OAuth2 Proxy cookie,
//                 configuration, clock, the error type; no HTTP
//   FCGIRuntime   the FastCGI server: sockets, threads, Request/Response, supervisor
//   Handlers      the route table, access policy and the handlers, in folders by topic
let package = Package(
    name: "llm-gateway",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "gateway-worker", targets: ["gateway-worker"]),
        .executable(name: "dev-identity", targets: ["dev-identity"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        // The metrics API (CoreMetrics only; the handlers are ours: docs/operations.md "Metrics").
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
    ],
    targets: [
        // C libraries, one system-library target each (module.modulemap + shim.h).
        .systemLibrary(name: "CFCGI", pkgConfig: "fcgi", providers: [.apt(["libfcgi-dev"])]),
        .systemLibrary(name: "CHiredis", pkgConfig: "hiredis", providers: [.apt(["libhiredis-dev"])]),
        .systemLibrary(name: "COpenSSL", pkgConfig: "libcrypto", providers: [.apt(["libssl-dev"])]),
        // Header only: atomics on memory shared between worker processes, memfd_create.
        .systemLibrary(name: "CSharedMemory"),

        .target(
            name: "GatewayCore",
            dependencies: [
                "CHiredis", "COpenSSL", "CSharedMemory", .product(name: "Logging", package: "swift-log"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
            ]
        ),
        .target(
            name: "FCGIRuntime",
            dependencies: ["CFCGI", "GatewayCore", .product(name: "Logging", package: "swift-log")]
        ),
        .target(
            name: "Handlers",
            dependencies: ["GatewayCore", "FCGIRuntime", .product(name: "Logging", package: "swift-log")]
        ),
        .executableTarget(
            name: "gateway-worker",
            dependencies: ["Handlers", "GatewayCore", "FCGIRuntime", .product(name: "Logging", package: "swift-log")]
        ),
        // The development stand-in for OAuth2 Proxy: no handler code.
        .executableTarget(
            name: "dev-identity", dependencies: ["GatewayCore", "FCGIRuntime", .product(name: "Logging", package: "swift-log")]
        ),
        .testTarget(name: "GatewayTests", dependencies: ["Handlers", "GatewayCore", "FCGIRuntime"]),
        // libFuzzer targets (scripts/fuzz builds them with -sanitize=fuzzer -DFUZZING); a plain
        // build is a replayer of saved inputs (Fuzz/corpus).
        .executableTarget(
            name: "gateway-fuzz",
            dependencies: [
                "Handlers", "GatewayCore", "FCGIRuntime", .product(name: "Logging", package: "swift-log"),
            ],
            path: "Fuzz/Sources"
        ),
    ],
    swiftLanguageModes: [.v6]
)
