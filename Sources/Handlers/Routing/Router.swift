import FCGIRuntime
import GatewayCore
import Logging

/// One accept thread's responder: finds the route, enforces its access rule, runs the
/// handler, and turns every error into a JSON answer. This is the only place errors become
/// responses.
public final class Router: Responder {
    let config: Config
    let redis: RedisClient
    let logger: Logger
    let clock: Clock

    let jwtCache: JWTCheckCache?
    let metrics = GatewayMetrics.shared

    /// `watch`: the process's revocation watch, when the /v1 check may remember tokens it let
    /// through (not with TRACK_INTERVAL_SECONDS=0 or JWT_REQUIRE_OAUTH_WITHIN, which need Redis
    /// on every call).
    public init(config: Config, logger: Logger, watch: RevocationWatch? = nil, clock: Clock = .system) {
        self.config = config
        self.redis = RedisClient(options: config.redis)
        self.logger = logger
        self.clock = clock
        self.jwtCache =
            if let watch, config.trackInterval > 0, config.jwtRequireOAuthWithin == 0 {
                JWTCheckCache(watch: watch, maxAge: config.trackInterval)
            } else { nil }
    }

    public func respond(to request: Request) -> Response {
        let started = GatewayMetrics.monotonicNanoseconds()
        let check = request.params["GATEWAY_CHECK"]
        let metrics = self.metrics.check(check)
        let response = answer(request, check: check, metrics: metrics)
        metrics.duration.recordNanoseconds(GatewayMetrics.monotonicNanoseconds() - started)
        return response
    }

    /// The answer; counts its outcome (`ok` or the error's code) in `metrics`.
    private func answer(_ request: Request, check: String?, metrics: CheckMetrics) -> Response {
        let identity = request.params[Request.identityParam].map(Email.normalize).flatMap { $0.isEmpty ? nil : $0 }
        // Access checks guard what nginx forwards: an ambiguous raw target is refused before
        // anything else (RequestTarget), a clean one names the exact path to forward.
        var forwardPath = ""
        if let check, check != GatewayCheck.refusal.rawValue {
            guard let path = RequestTarget.forwardPath(raw: request.params["REQUEST_URI"] ?? "", normalised: request.path) else {
                return refuse(RequestTarget.refusal(check: check), request, metrics)
            }
            guard path.utf8.count <= RequestTarget.maxForwardBytes else {
                return refuse(RequestTarget.tooLong(check: check), request, metrics)
            }
            forwardPath = path
        }
        let context = Context(
            config: config, redis: redis, logger: logger, clock: clock, identity: identity, requestPath: request.path,
            jwtCache: jwtCache, forwardPath: forwardPath, requestParams: request.params)
        do {
            if let identity, !Email.isASCII(identity) {
                let spelled = request.params[Request.identityParam]?.trimmingSpaces() ?? identity
                IdentityPolicy.audit(spelled, source: "oauth2_proxy", context: context)
                throw IdentityPolicy.refusal
            }
            let route = try Router.route(for: request, check: check)
            try BrowserPolicy.enforce(route.access, request: request, context: context)
            let response = try route.handler(request, context)
            metrics.ok.increment()
            return response
        } catch let error as APIError {
            return refuse(error, request, metrics)
        } catch let error as RedisError {
            context.logger.error("redis failure", metadata: ["error": "\(error)"])
            return refuse(APIError.redis(error), request, metrics)
        } catch {
            context.logger.error("unhandled error", metadata: ["error": "\(error)"])
            return refuse(APIError(500, .internalError, "Internal server error"), request, metrics)
        }
    }

    /// A refusal, counted under its code (every code has its own series).
    private func refuse(_ error: APIError, _ request: Request, _ metrics: CheckMetrics) -> Response {
        metrics.refused(error.errorCode)
        return respond(to: error, for: request)
    }

    /// The one place an error becomes an answer: JSON for APIs, an HTML page when a person's
    /// browser loads a UI page (`Pages.wantsHTML`; a program asking for the page gets JSON).
    /// The runtime's own refusals (413) come here too.
    public func respond(to error: APIError, for request: Request) -> Response {
        if request.params["GATEWAY_CHECK"].flatMap(GatewayCheck.init(rawValue:))?.isPage == true, Pages.wantsHTML(request) {
            return Pages.errorPage(error, now: clock.unixSeconds())
        }
        if request.params[Router.subrequestParam] != nil { return Router.subrequestRefusal(error) }
        var response = error.response
        // RFC 9110: a 405 names the methods the resource has.
        if error.status == 405, let allowed = error.body["allowed"]?.stringValue { response.headers.append(("Allow", allowed)) }
        return response
    }

    static func route(for request: Request) throws(APIError) -> Route {
        try route(for: request, check: request.params["GATEWAY_CHECK"])
    }

    static func route(for request: Request, check: String?) throws(APIError) -> Route {
        if let check {
            guard let route = GatewayCheck(rawValue: check).flatMap({ Routes.checks[$0] }) else {
                throw APIError(500, .unknownCheck, "Unknown access check")
            }
            return route
        }
        let candidates = Routes.endpoints.filter { $0.matches(path: request.path) }
        guard !candidates.isEmpty else { throw .notFound("Not found") }
        // A malformed escape in any query parameter is 400, not "parameter absent".
        guard request.queryIsWellFormed else {
            throw .badRequest("The query string is not validly percent-encoded UTF-8", code: .invalidQuery)
        }
        guard let route = candidates.first(where: { $0.method == nil || $0.method == request.method }) else {
            let allowed = candidates.compactMap(\.method).joined(separator: ", ")
            throw APIError(405, .methodNotAllowed, "Method \(request.method) not allowed", [("allowed", .string(allowed))])
        }
        return route
    }

    /// Set by nginx when it asks a check through `auth_request` (the /v1 check): nginx reads
    /// only the status of such an answer, and passes on 401 and 403 alone (any other becomes 500).
    static let subrequestParam = "GATEWAY_SUBREQUEST"

    /// A refusal as `auth_request` can carry it: status 401 or 403, the real status and the
    /// exact JSON body in headers, which nginx's error location (`@v1_refused`) answers with.
    static func subrequestRefusal(_ error: APIError) -> Response {
        Response(
            status: error.status == 401 ? 401 : 403,
            headers: [(GatewayHeader.status.rawValue, String(error.status)), (GatewayHeader.error.rawValue, error.body.text)])
    }
}
