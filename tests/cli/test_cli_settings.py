"""`headroom proxy` settings: flag > environment > TOML file > default, and clear errors."""

from __future__ import annotations

import pytest

from headroom_proxy import ProxyConfigError, ProxySettings, resolve_settings


def test_defaults_are_loopback_and_8787():
    s = resolve_settings({}, env={})
    assert (s.host, s.port) == ("127.0.0.1", 8787)
    assert s.upstream_base("anthropic") == "https://api.anthropic.com"
    assert s.upstream_base("openai") == "https://api.openai.com"


def test_precedence_flag_env_file_default(tmp_path):
    cfg = tmp_path / "headroom.toml"
    cfg.write_text('[proxy]\nport = 9001\nhost = "127.0.0.2"\nlog_level = "debug"\nmax_ccr_rounds = 5\n')
    env = {"HEADROOM_PORT": "9002", "HEADROOM_HOST": "127.0.0.3"}
    s = resolve_settings({"port": 9003}, env=env, config_file=str(cfg))
    assert s.port == 9003  # flag
    assert s.host == "127.0.0.3"  # env beats file
    assert s.log_level == "debug" and s.max_ccr_rounds == 5  # file beats default
    assert s.read_timeout == ProxySettings().read_timeout  # default
    s = resolve_settings({}, env={"HEADROOM_CONFIG": str(cfg), "HEADROOM_COMPRESS": "off"})
    assert s.port == 9001 and s.compress is False and s.config_file == str(cfg)


def test_upstream_v1_suffix_is_accepted():
    s = ProxySettings(upstream_openai="https://openrouter.ai/api/v1/", upstream_anthropic="http://h:1/v1")
    assert s.upstream_base("openai") == "https://openrouter.ai/api"
    assert s.upstream_base("anthropic") == "http://h:1"


@pytest.mark.parametrize(
    ("flags", "env", "toml", "needle"),
    [
        ({"port": 70000}, {}, None, "port must be"),
        ({}, {"HEADROOM_PORT": "eighty"}, None, "$HEADROOM_PORT: port has a bad value"),
        ({"log_level": "loud"}, {}, None, "log_level must be one of"),
        ({"upstream_openai": "ftp://x"}, {}, None, "must be an http(s) URL"),
        ({}, {}, "[proxy]\nprot = 1\n", "unknown key(s) in [proxy]: prot"),
        ({}, {}, "[proxy\n", "is not valid TOML"),
    ],
)
def test_bad_settings_give_one_clear_error(tmp_path, flags, env, toml, needle):
    path = None
    if toml is not None:
        path = tmp_path / "h.toml"
        path.write_text(toml)
    with pytest.raises(ProxyConfigError) as info:
        resolve_settings(flags, env=env, config_file=str(path) if path else None)
    assert needle in str(info.value)


def test_missing_config_file():
    with pytest.raises(ProxyConfigError, match="cannot read config file"):
        resolve_settings({}, env={}, config_file="/nonexistent/headroom.toml")


def test_every_setting_is_documented():
    from pathlib import Path

    from headroom_proxy._settings import SETTING_NAMES, env_name

    doc = (Path(__file__).resolve().parents[2] / "docs" / "proxy.md").read_text()
    for name in SETTING_NAMES:
        assert f"`{name}`" in doc, name
        assert f"`{env_name(name)}`" in doc, env_name(name)
