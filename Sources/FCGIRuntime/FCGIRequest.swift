import CFCGI
import Glibc

/// Owns one libfcgi `FCGX_Request` (one per accept thread) and frees it in `deinit`.
final class FCGIRequest {
    let raw: UnsafeMutablePointer<FCGX_Request>
    /// Read buffer for request bodies, allocated once per thread (not per request).
    private let chunk: UnsafeMutableBufferPointer<CChar>

    init(listener: Int32) {
        raw = .allocate(capacity: 1)
        FCGX_InitRequest(raw, listener, 0)
        chunk = .allocate(capacity: 16 * 1024)
    }

    deinit {
        FCGX_Free(raw, 1)
        raw.deallocate()
        chunk.deallocate()
    }

    /// The connection this request object keeps open between requests (`fastcgi_keep_conn`), or -1.
    var connectionFD: Int32 { raw.pointee.ipcFd }

    /// The FastCGI parameters of the current request.
    func params() -> [String: String] {
        var params: [String: String] = [:]
        params.reserveCapacity(24)
        guard var cursor = raw.pointee.envp else { return params }
        while let entry = cursor.pointee {
            if let equals = strchr(entry, Int32(UInt8(ascii: "="))) {
                let nameLength = entry.distance(to: equals)
                let name = String(decoding: UnsafeRawBufferPointer(start: entry, count: nameLength), as: UTF8.self)
                params[name] = String(cString: equals + 1)
            }
            cursor += 1
        }
        return params
    }

    /// Reads the whole request body; nil when it is longer than `limit` (the rest is drained
    /// so that a kept-alive connection stays in step).
    func readBody(limit: Int) -> [UInt8]? {
        var body: [UInt8] = []
        var tooLarge = false
        while let base = chunk.baseAddress {
            let count = Int(FCGX_GetStr(base, Int32(chunk.count), raw.pointee.in))
            if count <= 0 { break }
            if tooLarge { continue }
            if body.count + count > limit {
                tooLarge = true
                body = []
            } else {
                body.append(contentsOf: UnsafeRawBufferPointer(start: base, count: count))
            }
        }
        return tooLarge ? nil : body
    }

    func write(_ response: Response) {
        put(response.encodedHead())
        if !response.body.isEmpty { put(response.body) }
    }

    private func put(_ bytes: [UInt8]) {
        bytes.withUnsafeBufferPointer { buffer in
            guard let base = buffer.baseAddress else { return }
            base.withMemoryRebound(to: CChar.self, capacity: buffer.count) {
                _ = FCGX_PutStr($0, Int32(buffer.count), raw.pointee.out)
            }
        }
    }
}
