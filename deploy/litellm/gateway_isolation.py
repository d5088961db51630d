"""Keeps one gateway user's calls apart from another's inside LiteLLM (docs/security.md I1, I2).

Every /v1 call reaches LiteLLM with the gateway's one shared key, so LiteLLM sees every user as
the same identity. This callback, shipped by the gateway and loaded by both the dev LiteLLM
(dev/litellm/config.yaml) and compose's (deploy/litellm/config.yaml), next to gateway_cutoff.py:

- **records who created each stored object**: when a call through the gateway creates a
  response, file, batch, vector store, assistant, thread, container or fine-tuning job, the
  creator's e-mail (from the spend-log metadata header nginx sets, which the client cannot
  set) is written to ``gw:owner:{id}`` in the gateway's Redis (``Keyspace.objectOwner``)
  before the answer leaves LiteLLM, with SET NX: an id never changes owner. Redis failing to
  record: the call is answered with a 503 error (the object would be unreachable);
- **lets only the creator use a stored response**: LiteLLM hands out response ids encrypted
  afresh in every answer, so the gateway's worker cannot read them from the path; this
  callback's pre-call hook compares the owner of the response a call names (``GET``/``DELETE``
  ``/v1/responses/{id}``, ``/cancel``, ``/input_items``, and ``previous_response_id`` of a new
  response) with the caller and answers anyone else 404. The worker checks the other object
  routes (stable ids) itself (``ObjectOwners``);
- **drops the provider's response headers**: LiteLLM hands a provider's headers to the caller
  (``llm_provider-*``, the provider's ``x-ratelimit-*`` for the organisation's account); the
  deployment hook empties them before LiteLLM builds the answer. nginx hides LiteLLM's own
  ``x-litellm-*`` headers (openresty/litellm_v1_isolation.conf): the two layers overlap on purpose.

Settings (environment): CUTOFF_REDIS_URL / CUTOFF_REDIS_PASSWORD (the gateway's Redis, as for
gateway_cutoff.py), OBJECT_OWNER_TTL_DAYS (default 30: how long an owner record lives; an
object older than that is unreachable through the gateway).
"""

from __future__ import annotations

import logging
import os

import redis.asyncio as aioredis
from gateway_cutoff import AccessCut, caller_of
from litellm.integrations.custom_logger import CustomLogger

log = logging.getLogger("gateway_isolation")

# Keyspace.objectOwnerPrefix in Sources/GatewayCore/Redis/Keyspace.swift (ArchitectureTests.pythonKeyPrefixesMatchKeyspace).
OWNER_PREFIX = "gw:owner:"
# The `object` of what LiteLLM answers when a stored object is created.
STORED_OBJECTS = frozenset({"response", "file", "batch", "vector_store", "assistant", "thread", "container", "fine_tuning.job"})


def object_of(value) -> tuple[str, str] | None:
    """(object type, id) of a created object, from a LiteLLM response object or a dict."""
    if isinstance(value, dict):
        kind, ident = value.get("object"), value.get("id")
    else:
        kind, ident = getattr(value, "object", None), getattr(value, "id", None)
    kind = getattr(kind, "value", kind)
    if isinstance(kind, str) and kind in STORED_OBJECTS and isinstance(ident, str) and ident:
        return kind, ident
    return None


# Responses API calls that name a stored response: the field holding its id.
ADDRESSING_CALLS = {
    "aget_responses": "response_id",
    "adelete_responses": "response_id",
    "acancel_responses": "response_id",
    "alist_input_items": "response_id",
    "aresponses": "previous_response_id",
    "acompact_responses": "previous_response_id",
}


def canonical_id(kind: str, ident: str) -> str:
    """The id an owner record is kept under. LiteLLM hands out a stored response's id encrypted
    afresh in every answer (its responses-id security, keyed by the one shared key, so it does
    not separate gateway users); the id it stands for is the same each time."""
    if kind != "response":
        return ident
    try:
        from litellm.proxy.hooks.responses_id_security import decrypted_response_id
    except ImportError:  # a LiteLLM without encrypted response ids hands out the id itself
        return ident
    return decrypted_response_id(ident)


def not_found_error() -> AccessCut:
    return AccessCut(404, "invalid_request_error", "No such object (object_not_found)")


def unrecorded_error() -> AccessCut:
    return AccessCut(503, "service_unavailable", "The gateway could not record the object's owner (redis_unavailable); try again shortly")


class GatewayIsolation(CustomLogger):
    def __init__(self):
        super().__init__()
        url = os.environ.get("CUTOFF_REDIS_URL", "")
        if not url:
            raise RuntimeError("gateway_isolation: CUTOFF_REDIS_URL is required (the gateway's Redis)")
        self.ttl = int(float(os.environ.get("OBJECT_OWNER_TTL_DAYS", "30")) * 86400)
        self.redis = aioredis.from_url(
            url, password=os.environ.get("CUTOFF_REDIS_PASSWORD") or None, socket_timeout=2, socket_connect_timeout=2
        )

    async def record_owner(self, request_data: dict, created) -> None:
        found = object_of(created)
        caller = caller_of(request_data)
        if found is None or caller is None:  # not a creation, or not a call through the gateway
            return
        kind, ident = found
        try:
            await self.redis.set(OWNER_PREFIX + canonical_id(kind, ident), caller[1], nx=True, ex=self.ttl)
        except Exception as error:  # noqa: BLE001 - any failure to record fails the call
            log.error("gateway_isolation: recording the owner of %s %s failed: %r", kind, ident, error)
            raise unrecorded_error() from None

    async def async_pre_call_hook(self, user_api_key_dict, cache, data, call_type):
        """A call naming a stored response (read, delete, cancel, input items, or a new response
        continuing it through previous_response_id) goes on only for the response's creator."""
        field = ADDRESSING_CALLS.get(str(getattr(call_type, "value", call_type)))
        caller = caller_of(data) if field else None
        if caller is None:  # not such a call, or not through the gateway (an admin's master key)
            return None
        ident = data.get(field)
        if not isinstance(ident, str) or not ident:
            return None
        try:
            owner = await self.redis.get(OWNER_PREFIX + canonical_id("response", ident))
        except Exception as error:  # noqa: BLE001 - fail closed
            log.error("gateway_isolation: reading the owner of a response failed: %r", error)
            raise AccessCut(503, "service_unavailable", "Owner checks are unavailable (redis_unavailable)") from None
        if owner is None or owner.decode("utf-8", "replace") != caller[1]:
            log.warning("gateway_isolation: %s refused for %s: not the owner", call_type, caller[1])
            raise not_found_error()
        return None

    async def async_post_call_success_hook(self, data, user_api_key_dict, response):
        await self.record_owner(data, response)
        return None

    async def async_post_call_streaming_iterator_hook(self, user_api_key_dict, response, request_data):
        # A streamed /v1/responses call names its response in the first event (response.created).
        pending = caller_of(request_data) is not None
        async for chunk in response:
            if pending:
                created = getattr(chunk, "response", None)
                if created is not None and object_of(created) is not None:
                    await self.record_owner(request_data, created)
                    pending = False
            yield chunk

    # --- provider headers: emptied before LiteLLM turns them into answer headers ---------------

    async def async_post_call_success_deployment_hook(self, request_data, response, call_type):
        drop_provider_headers(response)  # a non-streaming answer
        return None

    async def async_post_call_response_headers_hook(self, data, user_api_key_dict, response, request_headers=None):
        drop_provider_headers(response)  # a stream: runs before LiteLLM reads the stream's headers
        return None


def drop_provider_headers(response) -> None:
    """Empties, in place, the provider headers LiteLLM keeps with a response (the stream's
    header builder holds the same dict)."""
    hidden = getattr(response, "_hidden_params", None)
    if not isinstance(hidden, dict):
        return
    headers = hidden.get("additional_headers")
    if isinstance(headers, dict):
        headers.clear()


isolation = GatewayIsolation()
