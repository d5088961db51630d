// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "llm-gateway",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "gateway-worker", targets: ["gateway-worker"]),
        .executable(name: "dev-identity", targets: ["dev-identity"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2")
    ],
    targets: [
        // C libraries, one system-library target each (module.modulemap + shim.h).
        .systemLibrary(name: "CFCGI", pkgConfig: "fcgi", providers: [.apt(["libfcgi-dev"])]),
        .systemLibrary(name: "CHiredis", pkgConfig: "hiredis", providers: [.apt(["libhiredis-dev"])]),
        .systemLibrary(name: "COpenSSL", pkgConfig: "libcrypto", providers: [.apt(["libssl-dev"])]),

        // The FastCGI runtime: sockets, threads, Request/Response, CGI mode.
        .target(
            name: "FCGIRuntime",
            dependencies: ["CFCGI", .product(name: "Logging", package: "swift-log")]
        ),
        // Handlers (one per former Lua module) and their shared parts.
        .target(
            name: "Handlers",
            dependencies: [
                "FCGIRuntime", "CHiredis", "COpenSSL",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .executableTarget(name: "gateway-worker", dependencies: ["Handlers", "FCGIRuntime"]),
        .executableTarget(name: "dev-identity", dependencies: ["Handlers", "FCGIRuntime"]),
        .testTarget(name: "GatewayTests", dependencies: ["Handlers", "FCGIRuntime"]),
        // libFuzzer targets (scripts/fuzz builds them with -sanitize=fuzzer -DFUZZING); a plain
        // build is a replayer of saved inputs (Fuzz/corpus).
        .executableTarget(
            name: "gateway-fuzz", dependencies: ["Handlers", "FCGIRuntime", .product(name: "Logging", package: "swift-log")],
            path: "Fuzz/Sources"),
    ],
    swiftLanguageModes: [.v6]
)
