import FCGIRuntime
import Handlers

extension Router {
    /// The /v1 check as nginx asks for it: `POST /v1/chat/completions` with the token as a Bearer.
    func checkJWT(_ token: String) -> Response {
        respond(
            to: Request(
                params: [
                    "REQUEST_METHOD": "POST", "DOCUMENT_URI": "/v1/chat/completions", "REQUEST_URI": "/v1/chat/completions",
                    "GATEWAY_CHECK": "jwt",
                    "HTTP_AUTHORIZATION": "Bearer \(token)",
                ], body: []))
    }
}
