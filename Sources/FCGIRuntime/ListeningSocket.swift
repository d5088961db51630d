import CFCGI
import GatewayCore
import Glibc

/// The FastCGI unix socket file and its listening descriptor.
///
/// Created under a temporary name, given its mode and group, then renamed into place: nginx
/// never sees a socket it cannot connect to, and a restart replaces the old socket atomically.
/// `unlinkIfOurs` removes the path only while it is still this socket (a newer worker may have
/// renamed its own socket into place already).
final class ListeningSocket: Sendable {
    let fd: Int32
    let path: String
    private let inode: ino_t

    init(options: ServerOptions) throws {
        let path = options.socketPath
        let temporary = "\(path).\(getpid()).tmp"
        unlink(temporary)
        let fd = try systemCall("FCGX_OpenSocket(\(path))") { FCGX_OpenSocket(temporary, options.backlog) }
        do {
            try systemCall("chmod") { chmod(temporary, options.socketMode) }
            if let group = options.socketGroup {
                guard let entry = getgrnam(group) else { throw RuntimeError.unknownGroup(group) }
                try systemCall("chown") { chown(temporary, uid_t.max, entry.pointee.gr_gid) }
            }
            try systemCall("rename") { rename(temporary, path) }
        } catch {
            close(fd)
            unlink(temporary)
            throw error
        }
        var created = stat()
        self.inode = stat(path, &created) == 0 ? created.st_ino : 0
        self.fd = fd
        self.path = path
    }

    func unlinkIfOurs() {
        var onDisk = stat()
        guard stat(path, &onDisk) == 0 else { return }
        if onDisk.st_ino == inode { unlink(path) }
    }
}
