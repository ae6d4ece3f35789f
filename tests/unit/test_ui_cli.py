"""``continuum-celery ui`` refusals and the UI's settings, without a server."""

from __future__ import annotations

import pytest

from continuum_celery.cli.root import main
from continuum_celery.cli.ui import is_loopback
from continuum_celery.ui import UiSettings


def test_a_non_loopback_host_without_credentials_is_refused(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("CONTINUUM_UI_TOKENS", "CONTINUUM_UI_USERS"):
        monkeypatch.delenv(name, raising=False)
    assert main(["--database-url", "postgresql://x/y", "ui", "--host", "0.0.0.0"]) == 2
    err = capsys.readouterr().err
    assert "refusing to bind 0.0.0.0 without credentials" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_bad_credentials_are_one_line_exit_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CONTINUUM_UI_TOKENS", "admin:short")
    assert main(["--database-url", "postgresql://x/y", "ui"]) == 2
    assert "token 1" in capsys.readouterr().err


@pytest.mark.parametrize("host", ["127.0.0.1", "::1", "[::1]", "localhost", "127.0.0.2"])
def test_loopback_hosts(host: str) -> None:
    assert is_loopback(host)


@pytest.mark.parametrize("host", ["0.0.0.0", "10.0.0.1", "example.com", "::"])
def test_other_hosts(host: str) -> None:
    assert not is_loopback(host)


def test_settings_from_the_environment() -> None:
    tokens = "viewer:aaaaaaaaaaaaaaaa,operator:bbbbbbbbbbbbbbbb"
    s = UiSettings.from_env({"CONTINUUM_UI_TOKENS": tokens,
                             "CONTINUUM_UI_USERS": "alice:pa:ss:operator",
                             "CONTINUUM_UI_DISABLED_ACTIONS": "terminate, fork"})  # fmt: skip
    assert s.configured and s.tokens["bbbbbbbbbbbbbbbb"].operator
    assert s.users["alice"][0] == "pa:ss" and s.users["alice"][1].role == "operator"
    assert s.allows("cancel") and not s.allows("terminate") and not s.allows("fork")
    assert not UiSettings.from_env({}).configured and not UiSettings().allows("cancel")


@pytest.mark.parametrize(
    "env",
    [{"CONTINUUM_UI_TOKENS": "root:aaaaaaaaaaaaaaaa"}, {"CONTINUUM_UI_USERS": "alice"},
     {"CONTINUUM_UI_DISABLED_ACTIONS": "delete"}],
)  # fmt: skip
def test_bad_settings_are_value_errors(env: dict[str, str]) -> None:
    with pytest.raises(ValueError):
        UiSettings.from_env(env)
