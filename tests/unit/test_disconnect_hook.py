"""`edge.guard._Disconnect`, the `asgi.DisconnectHook` switchboard serve's protocol gives each request
(the real-server behaviour is in tests/integration/test_loopback.py, run under both protocols)."""

from __future__ import annotations

from switchboard.edge.guard import _Disconnect


class _Flow:
    def __init__(self) -> None:
        self.resumed = 0

    def resume_reading(self) -> None:
        self.resumed += 1


def test_watching_resumes_reading_and_a_lost_connection_calls_once() -> None:
    flow, calls = _Flow(), []
    hook = _Disconnect(flow)
    hook.watch(lambda: calls.append("gone"))
    assert flow.resumed == 1  # as receive() would: a paused connection would never see its end
    callback, hook.callback = hook.callback, None  # what connection_lost does
    hook.lost = True
    assert callback is not None
    callback()
    assert calls == ["gone"]


def test_a_connection_lost_before_watching_is_reported_at_once() -> None:
    calls: list[str] = []
    hook = _Disconnect(_Flow())
    hook.lost = True
    hook.watch(lambda: calls.append("gone"))
    assert calls == ["gone"]
    assert hook.callback is None


def test_unwatch_forgets_the_callback_and_marks_the_request_over() -> None:
    hook = _Disconnect(_Flow())
    hook.watch(lambda: None)
    hook.unwatch()
    assert hook.callback is None and hook.done
