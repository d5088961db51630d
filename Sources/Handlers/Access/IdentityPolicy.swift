import FCGIRuntime
import GatewayCore

/// Which e-mail addresses may be an identity (docs/security.md, "E-mail folding").
///
/// The gateway lowercases only ASCII (`Email.normalize`) and accepts only ASCII addresses, from
/// OAuth2 Proxy (`GATEWAY_AUTH_EMAIL`) and from a token's `user_email` alike. An address that
/// Unicode case or compatibility folding would change (`\u{212A}ate@` with a Kelvin sign,
/// full-width letters, dotless i, long s, ligatures) is refused with 403
/// `identity_not_allowed` and recorded in the audit log: it is never folded into, and so never
/// merged with, another person's address.
enum IdentityPolicy {
    static let code = ErrorCode.identityNotAllowed
    static let message = "This e-mail address is not accepted by the gateway: only ASCII addresses are"

    /// The browser APIs' and pages' refusal.
    static let refusal = APIError(403, code, message)

    /// The /v1 refusal (OpenAI-style body, like every /v1 error).
    static let v1Refusal = APIError.openAI(403, type: "permission_error", code: code, message: message)

    /// Records the refused address (as it arrived) in the audit log, with where it came from.
    static func audit(_ address: String, source: String, context: Context) {
        context.logger.warning("identity refused: not ASCII", metadata: ["identity.source": "\(source)"])
        Audit.record(.identityRefused, target: address, result: "refused", details: ["source": .string(source)], context: context)
    }
}
