"""The super admin cannot be locked out (docs/security.md P4): no admin can ban, force out or
end a session of the super admin, and a ban key written for them does not lock them out of the
admin manager."""

import uuid

import pytest

SUPER_ADMIN = "root@example.com"
ADMIN = "admin@example.com"


@pytest.mark.parametrize("target", [SUPER_ADMIN, "Root@Example.COM", " root@example.com "])
def test_no_admin_can_ban_or_force_logout_the_super_admin(stack, target):
    root = stack.sign_in(SUPER_ADMIN)
    assert root.get(stack.url("/api/admin/manage")).status_code == 200
    try:
        for actor in (ADMIN, "someone@admins.example.org"):
            response = stack.sign_in(actor).post(stack.url("/api/admin/sessions/revoke-user"), json={"user_email": target})
            assert response.status_code == 403, response.text
            assert response.json()["code"] == "super_admin_protected"
        assert stack.redis.exists(f"active_user_deleted:{SUPER_ADMIN}") == 0
    finally:
        stack.redis.delete(f"active_user_deleted:{SUPER_ADMIN}")
        root = stack.sign_in(SUPER_ADMIN)
    assert root.get(stack.url("/api/admin/manage")).status_code == 200
    entries = stack.sign_in(ADMIN).get(stack.url("/api/admin/audit?limit=50")).json()["entries"]
    assert any(e["action"] == "session.revoke_user" and e["result"] == "refused_super_admin" for e in entries)


def test_no_admin_can_delete_a_session_of_the_super_admin(stack):
    root = stack.sign_in(SUPER_ADMIN)
    assert root.get(stack.url("/api/admin/manage")).status_code == 200  # the tracker records the session
    sessions = stack.redis.smembers(f"gw:user_sessions:{SUPER_ADMIN}")
    assert sessions
    admin = stack.sign_in(ADMIN)
    for key in sessions:
        response = admin.delete(stack.url(f"/api/admin/sessions/{key}"))
        assert response.status_code == 403, response.text
        assert response.json()["code"] == "super_admin_protected"
        assert stack.redis.exists(key) == 1
    assert root.get(stack.url("/api/admin/manage")).status_code == 200


def test_a_ban_key_written_for_the_super_admin_does_not_lock_them_out_of_the_admin_manager(stack):
    root = stack.sign_in(SUPER_ADMIN)
    stack.redis.set(f"active_user_deleted:{SUPER_ADMIN}", "1", ex=600)
    try:
        manage = root.get(stack.url("/api/admin/manage"))
        assert manage.status_code == 200, manage.text
        assert root.get(stack.url("/admin-manager"), allow_redirects=False).status_code == 200
        # From there the super admin names an admin, who lifts the ban.
        helper = f"helper-{uuid.uuid4().hex[:8]}@example.com"
        assert root.post(stack.url("/api/admin/manage"), json={"email": helper}).status_code == 201
        # Everything else still honours the ban (docs/security.md P4).
        assert root.get(stack.url("/api/admin/sessions")).status_code == 403
        unban = stack.sign_in(helper).delete(stack.url(f"/api/admin/sessions/unban/{SUPER_ADMIN}"))
        assert unban.status_code == 200, unban.text
        assert root.get(stack.url("/api/admin/sessions")).status_code == 200
        assert root.delete(stack.url("/api/admin/manage"), json={"email": helper}).status_code == 200
    finally:
        stack.redis.delete(f"active_user_deleted:{SUPER_ADMIN}")
