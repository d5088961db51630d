import GatewayCore

extension APIError {
    /// The error as a JSON answer.
    public var response: Response { .json(status, body.text) }
}
