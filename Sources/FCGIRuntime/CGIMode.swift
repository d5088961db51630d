import Foundation
import GatewayCore

/// Plain CGI mode, for debugging: one request from the environment and stdin, the answer
/// on stdout in the same form the FastCGI stream carries.
///
///     REQUEST_METHOD=GET DOCUMENT_URI=/health gateway-worker --cgi
public enum CGIMode {
    public static func answerOne(with responder: any Responder, maxBodyBytes: Int) -> Int32 {
        let params = ProcessInfo.processInfo.environment
        let declared = params["CONTENT_LENGTH"].flatMap { Int($0) } ?? 0
        let response: Response
        if declared > maxBodyBytes {
            response = responder.respond(to: .bodyTooLarge(maxBytes: maxBodyBytes), for: Request(params: params, body: []))
        } else {
            let body = declared > 0 ? Array(FileHandle.standardInput.readData(ofLength: declared)) : []
            response = responder.respond(to: Request(params: params, body: body))
        }
        FileHandle.standardOutput.write(Data(response.encodedHead() + response.body))
        return 0
    }
}
