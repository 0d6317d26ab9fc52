"""Access rules of a served app: who may change the articles or ask, and the limits."""

from __future__ import annotations

import threading

import pytest

from rag.access import Gate, Policy, RateLimit, is_loopback
from rag.errors import AccessError, BusyError
from rag.settings import get_settings


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.3.2.1", True),
        ("localhost", True),
        ("::1", True),
        ("[::1]", True),
        ("0.0.0.0", False),
        ("::", False),
        ("192.168.1.20", False),
        ("example.org", False),
    ],
)
def test_loopback_addresses(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_loopback_without_token_is_open() -> None:
    policy = Policy.from_settings(get_settings(host="127.0.0.1"))
    policy.check_start("127.0.0.1")
    assert not policy.admin_required and not policy.ask_required
    policy.check_admin(None)
    policy.check_ask(None)


def test_public_address_needs_an_admin_token_or_insecure() -> None:
    policy = Policy.from_settings(get_settings(host="0.0.0.0"))
    with pytest.raises(AccessError, match="RAG_ADMIN_TOKEN") as err:
        policy.check_start("0.0.0.0")
    assert "\n" not in str(err.value) and "--insecure" in str(err.value)
    # Told it is insecure: it starts, and anyone may change the articles.
    insecure = Policy.from_settings(get_settings(host="0.0.0.0", insecure=True))
    insecure.check_start("0.0.0.0")
    insecure.check_admin(None)


def test_admin_token_guards_changes_on_any_address() -> None:
    for host in ("127.0.0.1", "0.0.0.0"):
        policy = Policy.from_settings(get_settings(host=host, admin_token="s3cret"))
        policy.check_start(host)
        assert policy.admin_required
        for wrong in (None, "", "S3CRET", "s3cret "):
            with pytest.raises(AccessError, match="admin token"):
                policy.check_admin(wrong)
        policy.check_admin("s3cret")
        policy.check_ask(None)  # asking stays open unless an ask token is set


def test_ask_token_and_admin_token_both_let_one_ask() -> None:
    policy = Policy.from_settings(get_settings(ask_token="q", admin_token="a"))
    assert policy.ask_required
    assert policy.may_ask("q") and policy.may_ask("a")
    assert not policy.may_ask(None) and not policy.may_ask("x")
    assert policy.login("anyone", "q") and not policy.login("anyone", "nope")
    with pytest.raises(AccessError, match="RAG_ASK_TOKEN"):
        policy.check_ask("x")


def test_tokens_come_from_the_environment_hidden(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAG_ADMIN_TOKEN", "from-env")
    settings = get_settings()
    assert "from-env" not in repr(settings)
    Policy.from_settings(settings).check_admin("from-env")


def test_gate_refuses_beyond_its_limit_and_frees_places() -> None:
    gate = Gate(2)
    assert gate.enter() == 0 and gate.enter() == 1
    with pytest.raises(BusyError, match="busy: 2 questions are waiting"):
        gate.enter()
    gate.leave()
    with gate.held() as ahead:
        assert ahead == 1
    assert gate.count == 1
    with pytest.raises(RuntimeError), gate.held():
        raise RuntimeError("the answer failed")
    assert gate.count == 1  # a failed answer gives its place back


def test_gate_counts_right_under_threads() -> None:
    gate = Gate(1000)
    barrier = threading.Barrier(8)

    def work() -> None:
        barrier.wait()
        for _ in range(500):
            with gate.held():
                pass

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert gate.count == 0


def test_rate_limit_is_a_sliding_minute_per_client() -> None:
    limit = RateLimit(3)
    for t in (0.0, 10.0, 20.0):
        limit.check("a", now=t)
    with pytest.raises(BusyError, match=r"at most 3 a minute; try again in 41 s"):
        limit.check("a", now=20.0)
    limit.check("b", now=20.0)  # another client has its own minute
    limit.check("a", now=60.5)  # the first upload left the window
