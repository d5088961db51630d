"""One admin rule on every admin route: super admin, ADMIN_EMAILS,
ADMIN_DOMAINS and the Redis set admin:emails; the audit log view is admins-only."""

import requests


def test_audit_log_is_for_admins_only(stack, email):
    assert requests.get(stack.url("/api/admin/audit")).status_code == 401
    refused = stack.sign_in(email).get(stack.url("/api/admin/audit"))
    assert refused.status_code == 403
    assert refused.json() == {"error": "Insufficient privileges. Admin access only.", "code": "not_admin", "user": email}
    for admin in ("root@example.com", "admin@example.com", "someone@admins.example.org"):
        response = stack.sign_in(admin).get(stack.url("/api/admin/audit"))
        assert response.status_code == 200, admin
        body = response.json()
        assert isinstance(body["entries"], list) and "total" in body


def test_runtime_admin_from_redis_set(stack, email):
    session = stack.sign_in(email)
    assert session.get(stack.url("/api/admin/audit")).status_code == 403
    stack.redis.sadd("admin:emails", email)
    try:
        assert session.get(stack.url("/api/admin/audit")).status_code == 200
    finally:
        stack.redis.srem("admin:emails", email)


def test_admin_email_compared_case_insensitively(stack):
    assert stack.sign_in("Admin@Example.COM").get(stack.url("/api/admin/audit")).status_code == 200


def test_bad_paging_parameters_are_400(stack):
    session = stack.sign_in("root@example.com")
    for query in ("limit=0", "limit=abc", "limit=100000", "cursor=abc"):
        response = session.get(stack.url(f"/api/admin/audit?{query}"))
        assert response.status_code == 400, query
        assert "error" in response.json()
