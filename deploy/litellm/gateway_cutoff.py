"""Ends open /v1 calls in LiteLLM when the gateway cuts a caller's access.

The gateway's worker checks revocation and bans when a /v1 call starts; a call already running
in LiteLLM (a stream, or a long non-streaming answer) would go on to its end. This LiteLLM
callback, shipped by the gateway and loaded by both the dev LiteLLM (dev/litellm/config.yaml)
and compose's (deploy/litellm/config.yaml), ends such calls within a fraction of a second of

- ``revoked:token:{jti}`` appearing (the owner's revoke, an admin's delete or revoke-all), or
- ``active_user_deleted:{email}`` appearing (a ban: an admin's force logout / revoke-user),

the same keys the worker reads. The worker tells LiteLLM who is calling in the spend-log
metadata header nginx sets on every /v1 call (``x-litellm-spend-logs-metadata``:
``user_email`` and ``token_id``); the client cannot set it (nginx overwrites it).

Mechanism (docs/cutoff.md): one task per LiteLLM process checks, every CUTOFF_CHECK_MS
(default 250) and only while calls are open, whether any of those keys exists for the open
calls, in one pipelined round trip (EXISTS per distinct token and user). A call whose key
exists is cut: a stream gets one error event in its API format (OpenAI ``data: {"error": …}``,
Anthropic ``event: error``) and closes; a non-streaming call is answered with the error. What
a stream delivered until then is billed through LiteLLM's own partial-stream accounting.

Fail closed: when Redis has not answered a check for CUTOFF_REDIS_GRACE_MS (default 500, the
same window after which the worker's revocation watch stops trusting what it remembers), every
open call is cut with a 503 ``service_unavailable`` error, as the worker refuses new calls while
Redis is down.

Settings (environment): CUTOFF_REDIS_URL (required, e.g. ``redis://redis:6379/0``; LiteLLM
refuses to start without it), CUTOFF_REDIS_PASSWORD (when the URL carries none),
CUTOFF_CHECK_MS, CUTOFF_REDIS_GRACE_MS.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time

import redis.asyncio as aioredis
from litellm.integrations.custom_logger import CustomLogger
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

log = logging.getLogger("gateway_cutoff")

METADATA_HEADER = "x-litellm-spend-logs-metadata"
# Keyspace.revokedTokenPrefix and Keyspace.banPrefix in Sources/GatewayCore/Redis/Keyspace.swift
# (ArchitectureTests.pythonKeyPrefixesMatchKeyspace compares them).
REVOKED_TOKEN_PREFIX = "revoked:token:"
BAN_PREFIX = "active_user_deleted:"
# Non-streaming calls cut mid-call: /v1/chat/completions and /v1/messages (what coding agents
# use); other endpoints' non-streaming calls run to their end (the next one is refused).
WATCHED_CALL_TYPES = frozenset({"acompletion", "anthropic_messages"})


class AccessCut(Exception):
    """Raised into LiteLLM's stream and request handling; LiteLLM turns it into the error
    event or answer of the client's API (status from ``status_code``, ``type`` as OpenAI's)."""

    def __init__(self, status_code: int, error_type: str, message: str):
        super().__init__(message)
        self.status_code = status_code
        self.type = error_type
        self.message = message


def revoked_error() -> AccessCut:
    return AccessCut(401, "authentication_error", "Token has been revoked (token_revoked): the response was ended")


def banned_error() -> AccessCut:
    return AccessCut(401, "authentication_error", "User access was ended by an administrator (user_banned): the response was ended")


def unavailable_error() -> AccessCut:
    return AccessCut(
        503, "service_unavailable", "Token checks are unavailable (redis_unavailable): the response was ended; try again shortly"
    )


class OpenCall:
    """One open call. A stream waiting for its next chunk is interrupted through its task (the
    task is cancelled while, and only while, it awaits the upstream), so a stream costs nothing
    extra per chunk but two attribute writes; at any other point it sees ``cut`` before it asks
    for the next chunk."""

    __slots__ = ("jti", "email", "cut", "task", "waiting", "interrupted")

    def __init__(self, jti: str, email: str):
        self.jti = jti
        self.email = email
        self.cut: asyncio.Future = asyncio.get_running_loop().create_future()
        self.task: asyncio.Task | None = None
        self.waiting = False
        self.interrupted = False

    def end(self, error: AccessCut) -> None:
        if self.cut.done():
            return
        self.cut.set_result(error)
        if self.waiting and self.task is not None and not self.task.done():
            self.interrupted = True
            self.task.cancel()


def caller_of(request_data: dict) -> tuple[str, str] | None:
    """(jti, email) from the metadata header nginx set, or None for calls not made through
    the gateway's /v1 JWT check (e.g. an admin's master-key call)."""
    request = request_data.get("proxy_server_request") or {}
    headers = request.get("headers") or {}
    raw = headers.get(METADATA_HEADER)
    if raw is None:
        for key, value in headers.items():
            if key.lower() == METADATA_HEADER:
                raw = value
                break
    if not raw:
        return None
    try:
        metadata = json.loads(raw)
    except (TypeError, ValueError):
        return None
    if not isinstance(metadata, dict):
        return None
    jti, email = metadata.get("token_id"), metadata.get("user_email")
    if not isinstance(jti, str) or not isinstance(email, str) or not jti or not email:
        return None
    return jti, email


class GatewayCutoff(CustomLogger):
    def __init__(self):
        super().__init__()
        url = os.environ.get("CUTOFF_REDIS_URL", "")
        if not url:
            raise RuntimeError("gateway_cutoff: CUTOFF_REDIS_URL is required (the gateway's Redis)")
        self.interval = int(os.environ.get("CUTOFF_CHECK_MS", "250")) / 1000
        self.grace = int(os.environ.get("CUTOFF_REDIS_GRACE_MS", "500")) / 1000
        timeout = max(self.interval, 0.1)
        # No retries inside a check: a failed check is retried by the next tick.
        self.redis = aioredis.from_url(
            url,
            password=os.environ.get("CUTOFF_REDIS_PASSWORD") or None,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            retry=Retry(NoBackoff(), 0),
        )
        self.calls: set[OpenCall] = set()
        self.finished: dict[str, asyncio.Event] = {}
        self.watcher: asyncio.Task | None = None
        self.last_ok = time.monotonic()

    # --- the watcher: one per process, running only while calls are open -------------------

    def register(self, request_data: dict) -> OpenCall | None:
        caller = caller_of(request_data)
        if caller is None:
            return None
        call = OpenCall(caller[0], caller[1])
        if not self.calls:
            self.last_ok = time.monotonic()  # nothing was at stake while no call was open
        self.calls.add(call)
        if self.watcher is None or self.watcher.done():
            self.watcher = asyncio.get_running_loop().create_task(self.watch())
        return call

    async def watch(self) -> None:
        while self.calls:
            await asyncio.sleep(self.interval)
            try:
                await self.check_once()
            except Exception as error:  # noqa: BLE001 - any failure to check is a failed check
                log.warning("gateway_cutoff: Redis check failed: %r", error)
                if time.monotonic() - self.last_ok >= self.grace:
                    for call in list(self.calls):
                        call.end(unavailable_error())

    async def check_once(self) -> None:
        calls = [call for call in self.calls if not call.cut.done()]
        if not calls:
            self.last_ok = time.monotonic()
            return
        tokens = sorted({call.jti for call in calls})
        users = sorted({call.email for call in calls})
        async with self.redis.pipeline(transaction=False) as pipe:
            for jti in tokens:
                pipe.exists(REVOKED_TOKEN_PREFIX + jti)
            for email in users:
                pipe.exists(BAN_PREFIX + email)
            replies = await asyncio.wait_for(pipe.execute(), timeout=max(self.interval, 0.1))
        self.last_ok = time.monotonic()
        revoked = {jti for jti, hit in zip(tokens, replies[: len(tokens)], strict=True) if hit}
        banned = {email for email, hit in zip(users, replies[len(tokens) :], strict=True) if hit}
        for call in calls:
            if call.jti in revoked:
                call.end(revoked_error())
            elif call.email in banned:
                call.end(banned_error())

    # --- streams ------------------------------------------------------------------------------

    async def async_post_call_streaming_iterator_hook(self, user_api_key_dict, response, request_data):
        call = self.register(request_data)
        if call is None:
            async for chunk in response:
                yield chunk
            return
        upstream = response.__aiter__()
        try:
            while not call.cut.done():
                # LiteLLM may run each step in a task of its own (keep-alive pings): take it anew.
                call.task = asyncio.current_task()
                call.waiting = True
                try:
                    chunk = await upstream.__anext__()
                except StopAsyncIteration:
                    return
                except asyncio.CancelledError:
                    if not call.interrupted:
                        raise  # the client went away, or LiteLLM is shutting down
                    call.interrupted = False
                    uncancel = getattr(call.task, "uncancel", None)
                    if uncancel is not None:
                        uncancel()
                    break
                finally:
                    call.waiting = False
                yield chunk
            error = call.cut.result()
            await bill_partial_stream(request_data, response)
            log.warning("gateway_cutoff: stream of %s ended: %s", call.email, error.message)
            raise error
        finally:
            self.calls.discard(call)

    # --- non-streaming calls: LiteLLM runs this next to the provider call ----------------------

    async def async_moderation_hook(self, data, user_api_key_dict, call_type):
        # Only the calls whose end this hook is told of for sure (see _finish): waiting for a
        # call type that never reports its end would hold its answer forever.
        if data.get("stream") or str(getattr(call_type, "value", call_type)) not in WATCHED_CALL_TYPES:
            return None
        call = self.register(data)
        if call is None:
            return None
        call_id = data.get("litellm_call_id")
        finished = asyncio.Event()
        if call_id:
            self.finished[call_id] = finished
        try:
            waiter = asyncio.ensure_future(finished.wait())
            try:
                await asyncio.wait((waiter, call.cut), return_when=asyncio.FIRST_COMPLETED)
            finally:
                waiter.cancel()
            if call.cut.done() and not finished.is_set():
                error = call.cut.result()
                log.warning("gateway_cutoff: call of %s ended: %s", call.email, error.message)
                raise error
            return None
        finally:
            self.calls.discard(call)
            if call_id:
                self.finished.pop(call_id, None)

    def _finish(self, call_id) -> None:
        event = self.finished.get(call_id) if call_id else None
        if event is not None:
            event.set()

    async def async_post_call_success_deployment_hook(self, request_data, response, call_type):
        self._finish(request_data.get("litellm_call_id"))
        return None

    async def async_log_success_event(self, kwargs, response_obj, start_time, end_time):
        self._finish(kwargs.get("litellm_call_id"))

    async def async_log_failure_event(self, kwargs, response_obj, start_time, end_time):
        self._finish(kwargs.get("litellm_call_id"))


async def bill_partial_stream(request_data: dict, response) -> None:
    """What the stream delivered until the cut, billed the way LiteLLM bills a stream whose
    client went away (its chunks assembled, success logging dispatched once)."""
    try:
        from litellm.proxy.common_request_processing import _bill_partial_streamed_spend_on_disconnect
    except ImportError:
        log.error("gateway_cutoff: this LiteLLM has no partial-stream billing; the cut stream's usage is not recorded")
        return
    try:
        await _bill_partial_streamed_spend_on_disconnect(request_data, response)
    except Exception as error:  # noqa: BLE001 - billing must not keep the stream open
        log.error("gateway_cutoff: billing the cut stream failed: %s", error)


cutoff = GatewayCutoff()
