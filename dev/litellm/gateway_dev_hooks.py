"""Development hooks for LiteLLM (local runs and tests only).

- ``user_api_key_auth``: accepts LITELLM_SHARED_KEY (an ordinary caller) and
  LITELLM_MASTER_KEY (proxy admin); everything else is refused, as LiteLLM would refuse
  an unknown virtual key.
- ``recorder``: appends one JSON line per successful call to LITELLM_RECORD_FILE with the
  end user and spend-log metadata LiteLLM attributed the call to.
"""

import json
import os
import secrets

from fastapi import Request
from litellm.integrations.custom_logger import CustomLogger
from litellm.proxy._types import LitellmUserRoles, UserAPIKeyAuth


async def user_api_key_auth(request: Request, api_key: str) -> UserAPIKeyAuth:
    shared = os.environ.get("LITELLM_SHARED_KEY", "")
    master = os.environ.get("LITELLM_MASTER_KEY", "")
    if master and secrets.compare_digest(api_key, master):
        return UserAPIKeyAuth(api_key=api_key, user_role=LitellmUserRoles.PROXY_ADMIN)
    if shared and secrets.compare_digest(api_key, shared):
        return UserAPIKeyAuth(api_key=api_key, user_role=LitellmUserRoles.INTERNAL_USER)
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
