"""`headroom proxy`: an OpenAI- and Anthropic-compatible HTTP proxy that compresses requests.

    >>> from headroom_proxy import ProxySettings, create_app
    >>> app = create_app(ProxySettings(upstream_anthropic="http://127.0.0.1:9000"))

Point a client's base URL at it; see docs/proxy.md. Needs the `[proxy]` extra.
"""

from headroom_proxy._app import Proxy, ProxyHooks, RequestInfo, RequestRecord, create_app
from headroom_proxy._budgets import Budget, BudgetStore, InProcessBudgetStore
from headroom_proxy._ops import Operations, OpsConfig, operations_for
from headroom_proxy._ratelimit import InProcessRateLimitStore, RateLimit, RateLimitStore
from headroom_proxy._server import PortInUseError, bind_socket, serve
from headroom_proxy._settings import ProxyConfigError, ProxySettings, env_name, resolve_settings

__all__ = [
    "Budget",
    "BudgetStore",
    "InProcessBudgetStore",
    "InProcessRateLimitStore",
    "Operations",
    "OpsConfig",
    "PortInUseError",
    "Proxy",
    "ProxyConfigError",
    "ProxyHooks",
    "ProxySettings",
    "RateLimit",
    "RateLimitStore",
    "RequestInfo",
    "RequestRecord",
    "bind_socket",
    "create_app",
    "env_name",
    "operations_for",
    "resolve_settings",
    "serve",
]
