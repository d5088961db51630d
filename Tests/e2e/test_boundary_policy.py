"""The access boundary's policy (docs/security.md P1-P4), through nginx against the real stack
and proven from LiteLLM's side:

- a JWT reaches only the /v1 routes of the allow-list (V1_ROUTES, V1_SHARED_OBJECT_ROUTES);
- LiteLLM itself refuses management routes called with the shared key (the dev hook applies the
  production key's `allowed_routes=["llm_api_routes"]` with LiteLLM's own route check);
- POST /key/generate passes only allowed body fields and binds the key to the caller;

The super admin's protection is in test_super_admin.py.
Requests go over http.client with the target exactly as written (no client-side normalising)."""

import json
import uuid

import pytest

from harness.probes import cookie_header, raw, reached_litellm
from harness.stack import sibling_stack

SUPER_ADMIN = "root@example.com"
ADMIN = "admin@example.com"
ROUTE_REFUSED_BY_LITELLM = "not allowed to call this route"


def token_for(stack, email):
    return stack.mint(email)["token"]


# --- route allow-list for JWTs (item 3) -------------------------------------------------------

# Concrete paths of every default route pattern (V1RouteList.groups), with a method clients use.
ALLOWED = [
    ("POST", "/v1/chat/completions"),
    ("POST", "/v1/completions"),
    ("POST", "/v1/embeddings"),
    ("POST", "/v1/messages"),
    ("POST", "/v1/messages/count_tokens"),
    ("GET", "/v1/models"),
    ("POST", "/v1/responses"),
    ("GET", "/v1/responses/resp_abc"),
    ("GET", "/v1/responses/resp_abc/input_items"),
    ("POST", "/v1/responses/resp_abc/cancel"),
    ("POST", "/v1/moderations"),
    ("POST", "/v1/audio/speech"),
    ("POST", "/v1/audio/transcriptions"),
    ("POST", "/v1/images/generations"),
    ("POST", "/v1/images/edits"),
    ("POST", "/v1/rerank"),
]

# Shared objects of the one LiteLLM identity (off by default) and LiteLLM's management routes
# under /v1, plus near misses of allowed routes.
SHARED_OBJECTS = [
    ("GET", "/v1/files"),
    ("GET", "/v1/files/file-abc/content"),
    ("GET", "/v1/batches"),
    ("POST", "/v1/batches/b1/cancel"),
    ("GET", "/v1/fine_tuning/jobs"),
    ("GET", "/v1/vector_stores"),
    ("POST", "/v1/vector_stores/vs1/search"),
    ("GET", "/v1/vector_store/list"),
    ("GET", "/v1/assistants"),
    ("DELETE", "/v1/assistants/a1"),
    ("POST", "/v1/threads"),
    ("GET", "/v1/threads/t1/messages"),
]
NOT_ALLOWED = SHARED_OBJECTS + [
    ("GET", "/v1/access_group"),
    ("POST", "/v1/memory"),
    ("GET", "/v1/tool/list"),
    ("GET", "/v1/evals"),
    ("GET", "/v1/workflows/runs"),
    ("GET", "/v1/skills"),
    ("GET", "/v1/containers"),
    ("POST", "/v1/rag/query"),
    ("GET", "/v1/traces"),
    ("POST", "/v1/logs"),
    ("GET", "/v1/models/gpt-4o-mini"),
    ("GET", "/v1/videos"),
    ("POST", "/v1/chat/completions/extra"),
    ("POST", "/v1/chat/completionsx"),
    ("POST", "/v1/chat"),
    ("POST", "/v1/chat/completions/"),
    ("GET", "/v1/"),
    ("GET", "/v1/responses/"),
    ("GET", "/v1/MODELS"),
    ("POST", "/v1/agents"),
    ("GET", "/v1/search/tools"),
    ("POST", "/v1/ocr"),
    ("GET", "/v1/model/info"),  # opt-in group model_info: every deployment's api_base (docs/security.md I1)
]


@pytest.fixture(scope="module")
def jwt_user(stack):
    email = f"routes-{uuid.uuid4().hex[:8]}@example.com"
    return email, token_for(stack, email)


@pytest.mark.parametrize("method,path", NOT_ALLOWED)
def test_jwt_outside_the_route_allow_list_is_404_json_and_never_reaches_litellm(stack, jwt_user, method, path):
    _, token = jwt_user
    marker = uuid.uuid4().hex
    status, headers, text = raw(
        stack, method, f"{path}?probe={marker}", {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}, b"{}"
    )
    assert status == 404, (status, text[:200])
    assert headers["Content-Type"].startswith("application/json")
    assert json.loads(text)["error"]["code"] == "route_not_allowed"
    assert not reached_litellm(stack, marker, timeout=0.3)


@pytest.mark.parametrize("method,path", ALLOWED)
def test_allow_listed_routes_reach_litellm_which_accepts_the_shared_key_there(stack, jwt_user, method, path):
    _, token = jwt_user
    marker = uuid.uuid4().hex
    status, _, text = raw(
        stack, method, f"{path}?probe={marker}", {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}, b"{}"
    )
    assert reached_litellm(stack, marker), (path, status, text[:200])
    # LiteLLM's own answer (mock models, no provider: often an error), never a route refusal of
    # the shared key: every default route is inside the key's llm_api_routes.
    assert ROUTE_REFUSED_BY_LITELLM not in text, (path, text[:300])
    assert "route_not_allowed" not in text


def test_route_check_comes_before_the_token_check(stack):
    status, _, text = raw(stack, "GET", "/v1/files")
    assert status == 404 and json.loads(text)["error"]["code"] == "route_not_allowed"
    status, _, text = raw(stack, "GET", "/v1/models")
    assert status == 401


def test_shared_object_routes_turn_on_with_one_setting_and_all_restores_the_lua_behaviour(stack, jwt_user):
    _, token = jwt_user
    auth = {"Authorization": f"Bearer {token}"}
    with sibling_stack(stack, "shared-objects", V1_SHARED_OBJECT_ROUTES="on") as shared:
        for method, path in SHARED_OBJECTS:
            marker = uuid.uuid4().hex
            status, _, text = raw(shared, method, f"{path}?probe={marker}", auth)
            # Past the route allow-list: a creation reaches LiteLLM; a list, or an object this
            # user did not create, meets the owner check (test_isolation.py).
            if method == "POST" and path.count("/") == 2:
                assert reached_litellm(stack, marker), (path, status, text[:200])
            else:
                assert status == 404 and json.loads(text)["error"]["code"] == "object_not_found", (path, text[:200])
        marker = uuid.uuid4().hex
        status, _, text = raw(shared, "GET", f"/v1/access_group?probe={marker}", auth)
        assert status == 404 and not reached_litellm(stack, marker, timeout=0.3)
    with sibling_stack(stack, "all-routes", V1_ROUTES="all") as lua_like:
        marker = uuid.uuid4().hex
        status, _, text = raw(lua_like, "GET", f"/v1/access_group?probe={marker}", auth)
        # The gateway forwards it, as the Lua did; LiteLLM itself refuses the shared key there.
        assert reached_litellm(stack, marker)
        assert status == 403 and ROUTE_REFUSED_BY_LITELLM in text, (status, text[:300])


# --- the shared key is limited in LiteLLM (item 4) ---------------------------------------------

MANAGEMENT_ROUTES = [
    ("GET", "/key/info"),
    ("POST", "/key/generate"),
    ("GET", "/user/info"),
    ("POST", "/user/new"),
    ("GET", "/team/list"),
    ("GET", "/spend/logs"),
    ("POST", "/model/new"),
    ("GET", "/global/spend"),
    ("GET", "/v1/access_group"),
    ("POST", "/v1/memory"),
    ("GET", "/config/yaml"),
    ("POST", "/v1/mcp/server"),
]


@pytest.mark.parametrize("method,path", MANAGEMENT_ROUTES)
def test_litellm_refuses_management_routes_called_with_the_shared_key(stack, method, path):
    status, _, text = raw(
        stack,
        method,
        path,
        {"Authorization": f"Bearer {stack.shared_key}", "Content-Type": "application/json"},
        b"{}",
        port=int(stack.env["LITELLM_PORT"]),
    )
    assert status in (401, 403), (status, text[:300])
    assert ROUTE_REFUSED_BY_LITELLM in text, text[:300]


def test_litellm_serves_llm_routes_to_the_shared_key(stack):
    body = json.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}).encode()
    status, _, text = raw(
        stack,
        "POST",
        "/v1/chat/completions",
        {"Authorization": f"Bearer {stack.shared_key}", "Content-Type": "application/json"},
        body,
        port=int(stack.env["LITELLM_PORT"]),
    )
    assert status == 200 and "Hello from the mock" in text, text[:300]


# --- POST /key/generate: allowed fields, bound to the caller (item 4) ---------------------------


def key_generate_records(stack):
    return stack.records("LITELLM_KEY_GENERATE_RECORD_FILE")


def key_generate(stack, session, body, content_type="application/json", target="/key/generate"):
    headers = {"Cookie": cookie_header(session)}
    if content_type:
        headers["Content-Type"] = content_type
    return raw(stack, "POST", target, headers, body.encode() if isinstance(body, str) else body)


@pytest.mark.parametrize(
    "body,expected",
    [
        ({"key_alias": "laptop"}, {"key_alias": "laptop"}),
        (
            {"key_alias": "ci", "duration": "30d", "models": ["gpt-4o-mini"], "metadata": {"purpose": "ci"}},
            {"key_alias": "ci", "duration": "30d", "models": ["gpt-4o-mini"], "metadata": {"purpose": "ci"}},
        ),
        ({}, {}),
    ],
)
def test_key_generate_forwards_allowed_fields_bound_to_the_caller(stack, email, body, expected):
    session = stack.sign_in(email)
    marker = uuid.uuid4().hex
    status, _, text = key_generate(stack, session, json.dumps(body), target=f"/key/generate?probe={marker}")
    assert status == 500 and text == "Internal Server Error"  # LiteLLM's no-database answer, as before
    record = stack.wait_for_record("LITELLM_KEY_GENERATE_RECORD_FILE", lambda r: f'"{email}"' in r["body"])
    assert json.loads(record["body"]) == dict(expected, user_id=email)
    assert record["path"] == "/key/generate" and record["query"] == ""  # exactly the checked path
    assert record["content_type"] == "application/json"


@pytest.mark.parametrize(
    "field,value",
    [
        ("user_id", SUPER_ADMIN),
        ("user_role", "proxy_admin"),
        ("team_id", "t1"),
        ("organization_id", "o1"),
        ("key", "sk-chosen"),
        ("allowed_routes", ["management_routes"]),
        ("max_budget", 1e9),
        ("soft_budget", 1),
        ("budget_duration", "1d"),
        ("tpm_limit", 10**9),
        ("rpm_limit", 10**9),
        ("max_parallel_requests", 1000),
        ("permissions", {"allow_pii_controls": True}),
        ("guardrails", []),
        ("aliases", {"a": "b"}),
        ("config", {}),
        ("spend", 0),
        ("blocked", False),
        ("tags", ["x"]),
        ("enforced_params", []),
        ("model_max_budget", {}),
        ("key_type", "management"),
        ("send_invite_email", True),
        ("Key_Alias", "case"),
    ],
)
def test_key_generate_refuses_any_other_field_naming_it(stack, email, field, value):
    session = stack.sign_in(email)
    before = len(key_generate_records(stack))
    status, headers, text = key_generate(stack, session, json.dumps({"key_alias": "x", field: value}))
    assert status == 400, (field, status, text[:200])
    assert headers["Content-Type"].startswith("application/json")
    answer = json.loads(text)
    assert answer["code"] == "field_not_allowed" and answer["field"] == field
    assert len(key_generate_records(stack)) == before


@pytest.mark.parametrize(
    "body,content_type,status,code",
    [
        ("not json", "application/json", 400, "invalid_json"),
        ("[1]", "application/json", 400, "invalid_json"),
        ('"laptop"', "application/json", 400, "invalid_json"),
        ('{"key_alias": "a"', "application/json", 400, "invalid_json"),
        ('{"key_alias": 5}', "application/json", 400, "invalid_field"),
        ('{"key_alias": ""}', "application/json", 400, "invalid_field"),
        ('{"models": "gpt-4o-mini"}', "application/json", 400, "invalid_field"),
        ('{"models": [1]}', "application/json", 400, "invalid_field"),
        ('{"metadata": []}', "application/json", 400, "invalid_field"),
        ('{"duration": 30}', "application/json", 400, "invalid_field"),
        ('{"key_alias": "laptop"}', "text/plain", 415, "unsupported_media_type"),
        ("key_alias=laptop", "application/x-www-form-urlencoded", 415, "unsupported_media_type"),
        ('{"key_alias": "laptop"}', None, 415, "unsupported_media_type"),
        ('{"key_alias": "' + "x" * 5000 + '"}', "application/json", 413, "body_too_large"),
    ],
)
def test_key_generate_bad_bodies_are_4xx_json_and_never_reach_litellm(stack, email, body, content_type, status, code):
    session = stack.sign_in(email)
    before = len(key_generate_records(stack))
    got, headers, text = key_generate(stack, session, body, content_type)
    assert got == status, (body[:40], got, text[:200])
    assert headers["Content-Type"].startswith("application/json")
    assert json.loads(text)["code"] == code
    assert len(key_generate_records(stack)) == before
