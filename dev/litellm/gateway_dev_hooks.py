"""Development hooks for LiteLLM (local runs and tests only).

- ``user_api_key_auth``: accepts LITELLM_SHARED_KEY (an ordinary caller, limited to LiteLLM's
  LLM API routes as the production shared key is) and LITELLM_MASTER_KEY (proxy admin);
  everything else is refused, as LiteLLM would refuse an unknown virtual key.
- ``record_request`` (called by ``user_api_key_auth``): appends one JSON line per request
  LiteLLM authenticates to LITELLM_REQUEST_FILE: method, the raw path and the path LiteLLM
  routed on, the query, which key it carried (shared/master/other) and the forwarding
  headers, so tests prove from LiteLLM's side what reached it.
- ``recorder``: appends one JSON line per successful call to LITELLM_RECORD_FILE with the
  end user and spend-log metadata LiteLLM attributed the call to.
- LITELLM_HEADERS_RECORD_FILE: per request, its x-request-id and whether a client credential
  (x-api-key) or the shared key (Authorization) arrived.
"""

import json
import os
import secrets

from fastapi import Request
from litellm.integrations.custom_logger import CustomLogger
from litellm.proxy._types import LitellmUserRoles, UserAPIKeyAuth

# --- boundary-policy: the shared key's route restriction, /key/generate bodies ------------
# Production creates the shared key with allowed_routes=["llm_api_routes"] (docs/deployment.md);
# without a database this hook stands in for that key, so it applies the same restriction with
# LiteLLM's own check: a management route called with the shared key is refused by LiteLLM
# itself (403 "Virtual key is not allowed to call this route") even if the gateway forwarded it.
SHARED_KEY_ALLOWED_ROUTES = ["llm_api_routes"]


def _shared_key_auth(request: Request, api_key: str) -> UserAPIKeyAuth:
    from litellm.proxy.auth.route_checks import RouteChecks

    token = UserAPIKeyAuth(api_key=api_key, user_role=LitellmUserRoles.INTERNAL_USER, allowed_routes=SHARED_KEY_ALLOWED_ROUTES)
    RouteChecks.is_virtual_key_allowed_to_call_route(route=request.url.path, valid_token=token, request=request)
    return token


async def _record_key_generate(request: Request) -> None:
    """Appends the body LiteLLM received for /key/generate to LITELLM_KEY_GENERATE_RECORD_FILE."""
    path = os.environ.get("LITELLM_KEY_GENERATE_RECORD_FILE")
    if not path or request.url.path != "/key/generate":
        return
    body = (await request.body()).decode("utf-8", errors="replace")
    line = {"path": request.url.path, "query": request.url.query, "content_type": request.headers.get("content-type"), "body": body}
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(line) + "\n")


# --- end boundary-policy ---------------------------------------------------------------
# --- boundary-paths: what reached LiteLLM ---------------------------------------------------
FORWARDING_HEADERS = (
    "x-forwarded-for",
    "x-forwarded-host",
    "x-real-ip",
    "forwarded",
    "x-forwarded-proto",
    "x-forwarded-port",
    "x-forwarded-prefix",
    "host",
)
# isolation: headers LiteLLM reads to change how it runs a call, and credential headers it reads.
BEHAVIOUR_HEADERS = (
    "x-litellm-timeout",
    "x-litellm-stream-timeout",
    "x-litellm-num-retries",
    "x-litellm-keepalive-seconds",
    "x-litellm-tags",
    "x-litellm-trace-id",
    "x-litellm-session-id",
    "traceparent",
    "tracestate",
    "baggage",
    "x-litellm-cache-key",
    "x-litellm-priority",
    "x-litellm-team-id",
    "x-litellm-agent-id",
    "x-litellm-semantic-filter",
    "x-litellm-semantic-filter-tools",
    "x-litellm-mcp-debug",
    "x-litellm-call-id",
    "litellm-disable-message-redaction",
    "x-litellm-disable-callbacks",
    "x-litellm-api-key",
    "x-litellm-user-id",
    "x-litellm-customer-id",
    "litellm_user_api_key",
    "x-goog-api-key",
    "api-key",
    "x-litellm-end-user-id",
    "x-litellm-spend-logs-metadata",
    "x-litellm-model",
    "anthropic-beta",
    "anthropic-version",
    "cache-control",
)


def record_request(request: Request, api_key: str) -> None:
    path = os.environ.get("LITELLM_REQUEST_FILE")
    if not path:
        return
    shared = os.environ.get("LITELLM_SHARED_KEY", "")
    master = os.environ.get("LITELLM_MASTER_KEY", "")
    key = "other"
    if master and secrets.compare_digest(api_key or "", master):
        key = "master"
    elif shared and secrets.compare_digest(api_key or "", shared):
        key = "shared"
    scope = request.scope
    line = {
        "method": scope.get("method"),
        "raw_path": (scope.get("raw_path") or b"").decode("latin-1"),
        "path": scope.get("path"),
        "query": (scope.get("query_string") or b"").decode("latin-1"),
        "key": key,
        "headers": {name: request.headers.getlist(name) for name in FORWARDING_HEADERS if name in request.headers},
        # A test's marker for requests whose query the gateway does not forward (/key/generate).
        "probe": request.headers.get("x-gateway-test-probe"),
        # isolation: the behaviour headers LiteLLM received (docs/security.md I4).
        "behaviour": {name: request.headers.getlist(name) for name in BEHAVIOUR_HEADERS if name in request.headers},
    }
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(line) + "\n")


# --- end boundary-paths ------------------------------------------------------------------------


# --- operability: what reached LiteLLM of the client's request (headers, request id) ------
def _record_headers(request: Request, shared: str) -> None:
    """Appends, per request, the request id and which credentials LiteLLM received to
    LITELLM_HEADERS_RECORD_FILE (never the values: whether Authorization is the shared key)."""
    path = os.environ.get("LITELLM_HEADERS_RECORD_FILE")
    if not path:
        return
    headers = request.headers
    line = {
        "path": request.url.path,
        "request_id": headers.get("x-request-id"),
        "x_api_key_present": "x-api-key" in headers,
        "authorization_is_shared_key": bool(shared) and headers.get("authorization") == f"Bearer {shared}",
    }
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(line) + "\n")


# --- end operability ---------------------------------------------------------------------


async def user_api_key_auth(request: Request, api_key: str) -> UserAPIKeyAuth:
    record_request(request, api_key)  # boundary-paths
    shared = os.environ.get("LITELLM_SHARED_KEY", "")
    master = os.environ.get("LITELLM_MASTER_KEY", "")
    _record_headers(request, shared)  # operability
    if master and secrets.compare_digest(api_key, master):
        await _record_key_generate(request)  # boundary-policy
        # As LiteLLM's own master-key check answers: the proxy admin's user id and an alias in
        # place of the key (its UI's "who am I" call, /management/v1/users/me, needs the user id).
        from litellm.constants import LITELLM_PROXY_ADMIN_NAME, LITELLM_PROXY_MASTER_KEY_ALIAS

        return UserAPIKeyAuth(
            api_key=LITELLM_PROXY_MASTER_KEY_ALIAS, user_role=LitellmUserRoles.PROXY_ADMIN, user_id=LITELLM_PROXY_ADMIN_NAME
        )
    if shared and secrets.compare_digest(api_key, shared):
        return _shared_key_auth(request, api_key)  # boundary-policy
    raise Exception("invalid api key (dev hook: only the gateway's shared key and the master key are accepted)")


class AttributionRecorder(CustomLogger):
    def _record(self, kwargs, status):
        path = os.environ.get("LITELLM_RECORD_FILE")
        if not path:
            return
        payload = kwargs.get("standard_logging_object") or {}
        metadata = payload.get("metadata") or {}
        line = {
            "status": status,
            "model": payload.get("model_group") or kwargs.get("model"),
            "end_user": payload.get("end_user"),
            "spend_logs_metadata": metadata.get("spend_logs_metadata"),
            "user_api_key_user_id": metadata.get("user_api_key_user_id"),
            "completion_tokens": payload.get("completion_tokens"),
        }
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(line) + "\n")

    async def async_log_success_event(self, kwargs, response_obj, start_time, end_time):
        self._record(kwargs, "success")

    def log_success_event(self, kwargs, response_obj, start_time, end_time):
        pass


recorder = AttributionRecorder()
