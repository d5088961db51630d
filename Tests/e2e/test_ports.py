"""Ports: a stack's ports come from GATEWAY_PORT or are chosen free and recorded in
<run folder>/ports.env (scripts/env.sh), so stacks that differ only in GATEWAY_PORT run side by
side (a developer's `make run` beside `make test`, two checkouts, the e2e stacks)."""

import requests

from harness.stack import PORT_NAMES, stacks_on_gateway_ports


def test_two_stacks_that_differ_only_in_gateway_port_run_side_by_side(stack):
    """A second stack started with nothing set but GATEWAY_PORT (its run folder and every other
    port are scripts/env.sh's choice), beside the session's stack (which the harness also starts
    with only its run folder and GATEWAY_PORT): no port is shared, and both serve a signed-in
    user a /v1 call, their metrics and their slow provider."""
    with stacks_on_gateway_ports(1) as (second,):
        assert second.run_dir.name == f".run-{second.env['GATEWAY_PORT']}"
        both = [second, stack]
        used = [{name: int(each.env[name]) for name in PORT_NAMES} for each in both]
        every_port = [port for ports in used for port in ports.values()]
        assert len(set(every_port)) == len(every_port), used
        for other, ports in zip(both, used, strict=True):
            token = other.mint("side@example.com", token_name="side by side")["token"]
            answer = other.chat(token)
            assert answer.status_code == 200, answer.text
            assert answer.json()["choices"][0]["message"]["content"]
            metrics = requests.get(f"http://127.0.0.1:{ports['METRICS_PORT']}/metrics", timeout=10)
            assert metrics.status_code == 200 and "gateway_" in metrics.text
            provider = requests.get(f"http://127.0.0.1:{ports['SLOW_PROVIDER_PORT']}/health", timeout=10)
            assert provider.status_code == 200
            assert other.redis.ping()
