"""Ports: a stack's ports come from GATEWAY_PORT or are chosen free and recorded in
<run folder>/ports.env (scripts/env.sh), so stacks that differ only in GATEWAY_PORT run side by
side (a developer's `make run` beside `make test`, two checkouts, the e2e stacks)."""

from pathlib import Path

import requests

from harness.stack import PORT_NAMES, pid_of, stacks_on_gateway_ports


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


SERVICES = ("redis", "litellm", "provider", "worker", "identity", "nginx")


def process_groups(run_dir: Path) -> dict:
    """{service: pids of its process group}: scripts/stack starts each service as the leader of a
    group of its own (the recorded pid), and whatever it forks (LiteLLM's server processes, the
    worker processes, nginx's workers) stays in that group."""
    leaders = {service: pid_of(run_dir, service) for service in SERVICES}
    groups = {service: set() for service in SERVICES}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                pgid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[2])
            except (OSError, IndexError, ValueError):
                continue
            for service, leader in leaders.items():
                if pgid == leader:
                    groups[service].add(int(entry.name))
    return groups


def alive(pids: set) -> set:
    return {pid for pid in pids if Path(f"/proc/{pid}").exists() and "(zombie)" not in Path(f"/proc/{pid}/status").read_text()}


def test_stopping_a_stack_ends_what_it_started_and_nothing_of_another_stack(stack):
    """`scripts/stack stop` of a second stack (another GATEWAY_PORT) ends every process of its
    services by their recorded pids and process groups (LiteLLM's forked server processes too),
    and leaves every process of the session's stack running: its LiteLLM still answers."""
    ours = process_groups(stack.run_dir)
    assert all(pids for pids in ours.values()), ours
    with stacks_on_gateway_ports(1) as (second,):
        theirs = process_groups(second.run_dir)
        assert all(pids for pids in theirs.values()), theirs
        assert not set().union(*ours.values()) & set().union(*theirs.values())
        result = second.script("stop")
        assert result.returncode == 0, result.stderr
        left = {service: alive(pids) for service, pids in theirs.items() if alive(pids)}
        assert left == {}, f"left running after stop: {left}"
        assert not list((second.run_dir / "pids").glob("*.pid"))
    # The session's LiteLLM still answers (a signal it got would have closed its port by now),
    # and every process of the session's stack is still there.
    try:
        litellm = requests.get(f"http://127.0.0.1:{stack.env['LITELLM_PORT']}/health/liveliness", timeout=10).status_code
    except requests.ConnectionError as error:
        litellm = error
    assert litellm == 200, f"the session's LiteLLM no longer answers: {litellm}"
    gone = {service: pids - alive(pids) for service, pids in ours.items() if pids - alive(pids)}
    assert gone == {}, f"the session's stack lost: {gone}"
    assert requests.get(stack.url("/health"), timeout=10).status_code == 200
