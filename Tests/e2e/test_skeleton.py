"""The walking skeleton end to end: sign in, mint a token, call LiteLLM through nginx and
the Swift JWT check, and the ways a call is refused."""

import json
import time

import jwt as pyjwt
import requests

from harness.jwts import claims_for


def test_health(stack):
    response = requests.get(stack.url("/health"))
    assert response.status_code == 200
    assert response.json() == {"status": "healthy"}


def test_generate_requires_a_session(stack):
    response = requests.post(stack.url("/api/token/generate"), json={})
    assert response.status_code == 401
    assert response.headers["Content-Type"].startswith("application/json")
    assert "login" in response.json()["error"].lower()


def test_forged_identity_header_does_not_sign_in(stack):
    response = requests.post(
        stack.url("/api/token/generate"),
        json={},
        headers={
            "X-Forwarded-Email": "root@example.com",
            "X-Auth-Request-Email": "root@example.com",
            "X-Forwarded-User": "root@example.com",
        },
    )
    assert response.status_code == 401


def test_generate_stores_records_before_answering(stack, email):
    answer = stack.mint(email, token_name="laptop", expires_in=3600)
    assert answer["success"] is True
    assert answer["token_type"] == "Bearer"
    assert answer["token_name"] == "laptop"
    assert answer["expires_in"] == 3600
    assert answer["expires_at"] - answer["created_at"] == 3600
    assert answer["scopes"] == ["api:read", "api:write"]
    assert answer["user_email"] == email
    assert answer["token"] in answer["usage_instructions"]["curl"]
    assert "roo_code" in answer["usage_instructions"]
    token_id = answer["token_id"]
    info = json.loads(stack.redis.get(f"token:info:{token_id}"))
    assert info["user_email"] == email and info["token_id"] == token_id
    assert 3590 <= stack.redis.ttl(f"token:info:{token_id}") <= 3600
    assert token_id in stack.redis.smembers(f"user:tokens:{email}")
    claims = pyjwt.decode(answer["token"], stack.jwt_secret, algorithms=["HS256"], audience="litellm-api")
    assert claims["jti"] == token_id and claims["user_email"] == email and claims["user_id"] == email
    assert claims["exp"] - claims["iat"] == 3600 and claims["nbf"] == claims["iat"]


def test_generate_defaults_and_clamps(stack, email):
    session = stack.sign_in(email)
    default = session.post(stack.url("/api/token/generate"), json={}).json()
    assert default["expires_in"] == 2592000 and default["token_name"] == "API Token"
    clamped = session.post(stack.url("/api/token/generate"), json={"expires_in": 10**9}).json()
    assert clamped["expires_in"] == 7776000


def test_generate_rejects_bad_input(stack, email):
    session = stack.sign_in(email)
    for body in (
        '{"expires_in": 0}',
        '{"expires_in": -5}',
        '{"expires_in": 1.5}',
        '{"expires_in": "soon"}',
        '{"expires_in": true}',
        '{"token_name": 7}',
        '{"scopes": "api:read"}',
        '{"scopes": [1]}',
        "not json",
        "[1,2]",
    ):
        response = session.post(stack.url("/api/token/generate"), data=body, headers={"Content-Type": "application/json"})
        assert response.status_code == 400, body
        assert "error" in response.json(), body


def test_chat_reaches_litellm_attributed_to_the_user(stack, email):
    minted = stack.mint(email, token_name="attrib")
    token = minted["token"]
    response = stack.chat(token)
    assert response.status_code == 200, response.text
    assert "Hello from the mock" in response.json()["choices"][0]["message"]["content"]
    call = stack.wait_for_litellm_call(lambda c: c["end_user"] == email)
    assert call["spend_logs_metadata"] == {
        "user_email": email,
        "token_name": "attrib",
        "auth_method": "jwt",
        "token_id": minted["token_id"],
    }


def test_streaming_passes_through(stack, email):
    token = stack.mint(email)["token"]
    response = stack.chat(token, stream=True)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/event-stream")
    events = [line for line in response.iter_lines() if line.startswith(b"data: ")]
    assert len(events) > 2
    assert events[-1] == b"data: [DONE]"


def test_anthropic_messages(stack, email):
    token = stack.mint(email)["token"]
    response = requests.post(
        stack.url("/v1/messages"),
        headers={"Authorization": f"Bearer {token}", "anthropic-version": "2023-06-01"},
        json={"model": "claude-3-5-sonnet", "max_tokens": 32, "messages": [{"role": "user", "content": "hi"}]},
        timeout=60,
    )
    assert response.status_code == 200, response.text
    assert response.json()["content"][0]["text"].startswith("Hello from the mock claude")
    stack.wait_for_litellm_call(lambda c: c["end_user"] == email and c["model"] == "claude-3-5-sonnet")


def test_forged_attribution_headers_change_nothing(stack, email):
    token = stack.mint(email)["token"]
    response = stack.chat(
        token,
        headers={
            "x-litellm-end-user-id": "mallory@example.com",
            "x-litellm-customer-id": "mallory@example.com",
            "x-litellm-spend-logs-metadata": '{"user_email":"mallory@example.com"}',
            "X-Forwarded-Email": "mallory@example.com",
        },
    )
    assert response.status_code == 200
    call = stack.wait_for_litellm_call(lambda c: c["end_user"] == email)
    assert call["spend_logs_metadata"]["user_email"] == email
    assert not any(c["end_user"] == "mallory@example.com" for c in stack.litellm_calls())


def test_secret_headers_never_reach_the_client(stack, email):
    token = stack.mint(email)["token"]
    response = stack.chat(token)
    assert response.status_code == 200
    for name, value in response.headers.items():
        assert not name.lower().startswith("x-gateway"), name
        assert stack.shared_key not in value and stack.master_key not in value
    assert stack.shared_key not in response.text


def openai_error(response, status):
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["error"]["type"] in ("authentication_error", "service_unavailable")
    return body["error"]


def test_refused_tokens_get_401_json(stack, email):
    assert "required" in openai_error(requests.post(stack.url("/v1/chat/completions"), json={}), 401)["message"]
    assert openai_error(stack.chat("not-a-jwt"), 401)
    expired = pyjwt.encode(claims_for(email, exp=int(time.time()) - 3600), stack.jwt_secret, algorithm="HS256")
    assert "expired" in openai_error(stack.chat(expired), 401)["message"]
    wrong_key = pyjwt.encode(claims_for(email), "another-secret-another-secret-123456", algorithm="HS256")
    assert "signature" in openai_error(stack.chat(wrong_key), 401)["message"]
    none_alg = pyjwt.encode(claims_for(email), None, algorithm="none")
    assert openai_error(stack.chat(none_alg), 401)
    no_email = claims_for(email)
    del no_email["user_email"]
    assert "user_email" in openai_error(stack.chat(pyjwt.encode(no_email, stack.jwt_secret, algorithm="HS256")), 401)["message"]


def test_pyjwt_token_with_the_shared_secret_is_accepted(stack, email):
    token = pyjwt.encode(claims_for(email), stack.jwt_secret, algorithm="HS256")
    assert stack.chat(token).status_code == 200


def test_revoked_token_is_refused(stack, email):
    answer = stack.mint(email)
    assert stack.chat(answer["token"]).status_code == 200
    stack.redis.set(f"revoked:token:{answer['token_id']}", "1", ex=600)
    assert "revoked" in openai_error(stack.chat(answer["token"]), 401)["message"]


def test_banned_user_is_refused_with_remaining_time(stack, email):
    token = stack.mint(email)["token"]
    stack.redis.set(f"active_user_deleted:{email}", str(int(time.time())), ex=604800 - 60)
    message = openai_error(stack.chat(token), 401)["message"]
    assert message == "User is banned for 6 days 23 hours"
    stack.redis.delete(f"active_user_deleted:{email}")
    assert stack.chat(token).status_code == 200


def test_jwt_calls_are_tracked_as_active_user(stack, email):
    answer = stack.mint(email, token_name="tracked")
    assert stack.chat(answer["token"]).status_code == 200
    assert answer["token_id"] in stack.redis.smembers(f"active_user:{email}")
    assert email in stack.redis.smembers("active_users")
    metadata = json.loads(stack.redis.get(f"active_user_metadata:{email}"))
    assert metadata["auth_method"] == "jwt" and metadata["token_name"] == "tracked"
    assert metadata["email"] == email and metadata["session_count"] >= 1
    assert 0 < stack.redis.ttl(f"active_user:{email}") <= 86400


def test_large_body_passes_through_unchanged(stack, email):
    token = stack.mint(email)["token"]
    filler = "x" * (3 * 1024 * 1024)
    response = requests.post(
        stack.url("/v1/chat/completions"),
        headers={"Authorization": f"Bearer {token}"},
        json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": filler}]},
        timeout=60,
    )
    assert response.status_code == 200, response.text[:300]


def test_redis_down_fails_closed_then_recovers(stack, email):
    token = stack.mint(email)["token"]
    assert stack.chat(token).status_code == 200
    stack.script("stop-service", "redis")
    try:
        error = openai_error(stack.chat(token), 503)
        assert "unavailable" in error["message"].lower()
        response = requests.post(stack.url("/v1/chat/completions"), headers={"Authorization": f"Bearer {token}"}, json={})
        assert response.status_code == 503
    finally:
        stack.script("start-service", "redis")
    deadline = time.time() + 5
    while time.time() < deadline and stack.chat(token).status_code != 200:
        time.sleep(0.2)
    assert stack.chat(token).status_code == 200
