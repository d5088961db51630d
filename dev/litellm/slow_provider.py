"""A slow mock LLM provider for local runs and tests (development only).

LiteLLM's own ``mock_response`` streams its whole answer at once; the cut-off tests need a
stream that stays open for a while. This tiny server speaks just enough of the two provider
APIs LiteLLM calls, so that real LiteLLM sits between the gateway and it:

- ``POST /v1/chat/completions`` (OpenAI): with ``"stream": true`` one SSE chunk every
  SLOW_PROVIDER_CHUNK_MS (default 200) milliseconds, SLOW_PROVIDER_CHUNKS (default 150) chunks,
  then a usage chunk and ``[DONE]``; without, one answer after the same total time.
- ``POST /v1/messages`` (Anthropic): the same as Anthropic's event stream
  (message_start ... message_stop) or one message.

- ``/v1/responses`` (OpenAI Responses API, stored objects): ``POST`` answers at once with a
  fresh id (or as an event stream: response.created, a text delta, response.completed) and
  keeps the response in memory; ``GET``/``DELETE /v1/responses/{id}`` and ``GET
  .../input_items`` read it. Its answers carry provider headers (``openai-organization``,
  ``x-ratelimit-*``) that must never reach a gateway caller.

Every chunk differs ("tick 1 ", "tick 2 ", ...; each counted as one output token): LiteLLM
ends a stream that repeats one chunk (its "repeating the same chunk" guard), and a test can see
that the client got the chunks one by one, in order. Models whose name starts with ``stream-``
answer a short stream instead (SLOW_PROVIDER_SHORT_CHUNKS, default 8, chunks every
SLOW_PROVIDER_SHORT_CHUNK_MS, default 150 ms): long enough apart that a buffered stream, which
arrives in one piece at the end, is told from a streamed one, short enough for the client tests.
Started by scripts/stack on SLOW_PROVIDER_PORT; dev/litellm/config.yaml's models ``slow-gpt``,
``slow-claude``, ``stream-gpt``, ``stream-claude`` and ``store-gpt`` use it.
"""

import asyncio
import json
import os
import time
import uuid

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, StreamingResponse
from starlette.routing import Route

CHUNK_SECONDS = int(os.environ.get("SLOW_PROVIDER_CHUNK_MS", "200")) / 1000
CHUNKS = int(os.environ.get("SLOW_PROVIDER_CHUNKS", "150"))
SHORT_CHUNK_SECONDS = int(os.environ.get("SLOW_PROVIDER_SHORT_CHUNK_MS", "150")) / 1000
SHORT_CHUNKS = int(os.environ.get("SLOW_PROVIDER_SHORT_CHUNKS", "8"))
PROMPT_TOKENS = 7


def pace(model: str) -> tuple[float, int]:
    """(seconds between chunks, number of chunks) for a model."""
    if model.split("/")[-1].startswith("stream-"):
        return SHORT_CHUNK_SECONDS, SHORT_CHUNKS
    return CHUNK_SECONDS, CHUNKS


def words(count: int) -> list[str]:
    """The streamed text, one distinct word per chunk."""
    return [f"tick {number} " for number in range(1, count + 1)]


def note(path: str, body: dict) -> None:
    """One line per request as it starts (logs/provider.log), so tests can wait for a call to
    be in progress at the provider."""
    print(f"request {path} stream={bool(body.get('stream'))}", flush=True)


def sse(data: dict, event: str | None = None) -> bytes:
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {json.dumps(data)}\n\n".encode()


async def chat_completions(request: Request):
    body = await request.json()
    note("/v1/chat/completions", body)
    model = body.get("model", "slow-gpt")
    ident = f"chatcmpl-{uuid.uuid4().hex}"
    created = int(time.time())
    interval, count = pace(model)
    if not body.get("stream"):
        await asyncio.sleep(interval * count)
        return JSONResponse(
            {
                "id": ident,
                "object": "chat.completion",
                "created": created,
                "model": model,
                "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "".join(words(count))}}],
                "usage": {"prompt_tokens": PROMPT_TOKENS, "completion_tokens": count, "total_tokens": PROMPT_TOKENS + count},
            }
        )

    def chunk(delta: dict, finish=None, usage=None) -> bytes:
        data = {
            "id": ident,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }
        if usage is not None:
            data["choices"] = []
            data["usage"] = usage
        return b"data: " + json.dumps(data).encode() + b"\n\n"

    async def stream():
        yield chunk({"role": "assistant", "content": ""})
        for word in words(count):
            await asyncio.sleep(interval)
            yield chunk({"content": word})
        yield chunk({}, finish="stop")
        yield chunk({}, usage={"prompt_tokens": PROMPT_TOKENS, "completion_tokens": count, "total_tokens": PROMPT_TOKENS + count})
        yield b"data: [DONE]\n\n"

    return StreamingResponse(stream(), media_type="text/event-stream")


async def messages(request: Request):
    body = await request.json()
    note("/v1/messages", body)
    model = body.get("model", "slow-claude")
    ident = f"msg_{uuid.uuid4().hex}"
    interval, count = pace(model)
    if not body.get("stream"):
        await asyncio.sleep(interval * count)
        return JSONResponse(
            {
                "id": ident,
                "type": "message",
                "role": "assistant",
                "model": model,
                "content": [{"type": "text", "text": "".join(words(count))}],
                "stop_reason": "end_turn",
                "stop_sequence": None,
                "usage": {"input_tokens": PROMPT_TOKENS, "output_tokens": count},
            }
        )

    async def stream():
        yield sse(
            {
                "type": "message_start",
                "message": {
                    "id": ident,
                    "type": "message",
                    "role": "assistant",
                    "model": model,
                    "content": [],
                    "stop_reason": None,
                    "stop_sequence": None,
                    "usage": {"input_tokens": PROMPT_TOKENS, "output_tokens": 1},
                },
            },
            "message_start",
        )
        yield sse({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}, "content_block_start")
        for word in words(count):
            await asyncio.sleep(interval)
            yield sse({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": word}}, "content_block_delta")
        yield sse({"type": "content_block_stop", "index": 0}, "content_block_stop")
        yield sse(
            {"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None}, "usage": {"output_tokens": count}},
            "message_delta",
        )
        yield sse({"type": "message_stop"}, "message_stop")

    return StreamingResponse(stream(), media_type="text/event-stream")


# --- stored responses (/v1/responses) -------------------------------------------------------
STORED: dict[str, dict] = {}
# What a real provider sends about the organisation's account; LiteLLM would hand them on.
PROVIDER_HEADERS = {
    "openai-organization": "org-gateway-secret",
    "x-ratelimit-limit-requests": "10000",
    "x-ratelimit-remaining-requests": "9999",
    "openai-project": "proj-gateway-secret",
}


def stored_response(model: str) -> dict:
    ident = f"resp_{uuid.uuid4().hex}"
    return {
        "id": ident,
        "object": "response",
        "created_at": int(time.time()),
        "status": "completed",
        "model": model,
        "output": [
            {
                "type": "message",
                "id": f"msg_{uuid.uuid4().hex}",
                "status": "completed",
                "role": "assistant",
                "content": [{"type": "output_text", "text": "stored", "annotations": []}],
            }
        ],
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
        "store": True,
        "usage": {
            "input_tokens": PROMPT_TOKENS,
            "output_tokens": 1,
            "total_tokens": PROMPT_TOKENS + 1,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens_details": {"reasoning_tokens": 0},
        },
    }


async def create_response(request: Request):
    body = await request.json()
    note("/v1/responses", body)
    response = stored_response(body.get("model", "store-gpt"))
    STORED[response["id"]] = response
    print(f"created {response['id']}", flush=True)
    if not body.get("stream"):
        return JSONResponse(response, headers=PROVIDER_HEADERS)

    async def stream():
        started = dict(response, status="in_progress", output=[])
        yield sse({"type": "response.created", "sequence_number": 0, "response": started}, "response.created")
        yield sse(
            {
                "type": "response.output_text.delta",
                "sequence_number": 1,
                "item_id": response["output"][0]["id"],
                "output_index": 0,
                "content_index": 0,
                "delta": "stored",
            },
            "response.output_text.delta",
        )
        yield sse({"type": "response.completed", "sequence_number": 2, "response": response}, "response.completed")

    return StreamingResponse(stream(), media_type="text/event-stream", headers=PROVIDER_HEADERS)


async def one_response(request: Request):
    ident = request.path_params["ident"]
    note(f"/v1/responses/{ident} {request.method}", {})
    response = STORED.get(ident)
    if response is None:
        return JSONResponse({"error": {"message": "No such response", "type": "invalid_request_error"}}, 404)
    if request.method == "DELETE":
        del STORED[ident]
        return JSONResponse({"id": ident, "object": "response.deleted", "deleted": True})
    return JSONResponse(response, headers=PROVIDER_HEADERS)


async def input_items(request: Request):
    note(f"/v1/responses/{request.path_params['ident']}/input_items GET", {})
    if request.path_params["ident"] not in STORED:
        return JSONResponse({"error": {"message": "No such response", "type": "invalid_request_error"}}, 404)
    return JSONResponse({"object": "list", "data": [], "first_id": None, "last_id": None, "has_more": False})


async def health(request: Request):
    return JSONResponse({"status": "ok"})


app = Starlette(
    routes=[
        Route("/v1/chat/completions", chat_completions, methods=["POST"]),
        Route("/v1/messages", messages, methods=["POST"]),
        Route("/v1/responses", create_response, methods=["POST"]),
        Route("/v1/responses/{ident}", one_response, methods=["GET", "DELETE"]),
        Route("/v1/responses/{ident}/input_items", input_items, methods=["GET"]),
        Route("/health", health, methods=["GET"]),
    ]
)

if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(os.environ["SLOW_PROVIDER_PORT"]), log_level="warning")
