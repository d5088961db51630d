import Foundation

/// `gateway-fuzz`: built by scripts/fuzz with `-sanitize=fuzzer -DFUZZING`, it hands control to
/// libFuzzer (FUZZ_TARGET names the target: jwt, cookie, json, fastcgi). A plain build replays
/// saved inputs: `gateway-fuzz <target> <file or folder>...`.
@main
struct Entry {
    static func main() {
        #if FUZZING
            let name = ProcessInfo.processInfo.environment["FUZZ_TARGET"] ?? ""
            guard FuzzTargets.all[name] != nil else {
                print("FUZZ_TARGET must be one of \(FuzzTargets.all.keys.sorted())")
                exit(2)
            }
            var argc = CommandLine.argc
            var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
            exit(LLVMFuzzerRunDriver(&argc, &argv, fuzzOneInput))
        #else
            replay()
        #endif
    }

    static func replay() {
        let arguments = CommandLine.arguments.dropFirst()
        guard let name = arguments.first, let target = FuzzTargets.all[name] else {
            print("usage: gateway-fuzz \(FuzzTargets.all.keys.sorted().joined(separator: "|")) <file or folder>...")
            exit(2)
        }
        var count = 0
        for path in arguments.dropFirst() {
            for file in files(at: path) {
                target(FileManager.default.contents(atPath: file).map { Array($0) } ?? [])
                count += 1
            }
        }
        print("\(name): \(count) inputs replayed, no invariant broken")
    }

    static func files(at path: String) -> [String] {
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isFolder), isFolder.boolValue else { return [path] }
        let names = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
        return names.sorted().map { path + "/" + $0 }
    }
}

#if FUZZING
    // swift-format-ignore: AlwaysUseLowerCamelCase
    /// libFuzzer's driver (compiler-rt's libFuzzer, linked by -sanitize=fuzzer), under its C name.
    @_silgen_name("LLVMFuzzerRunDriver")
    func LLVMFuzzerRunDriver(
        _ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
        _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt
    ) -> CInt

    let selectedTarget = FuzzTargets.all[ProcessInfo.processInfo.environment["FUZZ_TARGET"] ?? ""]

    func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
        selectedTarget?(data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? [])
        return 0
    }
#endif
