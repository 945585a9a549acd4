"""The connection to PanDA and iDDS: environment, token, and calls that never exit the process.

panda-client reads its server URLs from the environment *when it is
imported*, resolves the cache host by DNS unless ``PANDA_BEHIND_REAL_LB`` is
set, reads the OIDC token on every request, and calls ``sys.exit(255)``
when it has no token or VO. :func:`activate` sets the environment (and
re-points an already imported ``pandaclient.Client``) from a
:class:`PandaConfig`; :func:`guarded` turns every failure, ``SystemExit``
included, into a :class:`PandaError`.

The token itself is never read here, stored or logged: only the *name* of
the file that holds it is passed on (``OIDC_AUTH_TOKEN_FILE``), or an
already present ``PANDA_AUTH_ID_TOKEN`` is left alone.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

log = logging.getLogger(__name__)

__all__ = ["PandaConfig", "PandaError", "activate", "guarded", "idds_call"]

_LOCK = threading.RLock()
_TOKEN_VARIABLES = ("PANDA_AUTH_ID_TOKEN", "OIDC_AUTH_ID_TOKEN")


class PandaError(Exception):
    """A PanDA/iDDS call failed. ``permanent`` means retrying the same call cannot help."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


@dataclass(frozen=True)
class PandaConfig:
    """Where PanDA is and how to authenticate (no secret values, only where to find them)."""

    url: str
    url_ssl: str = ""
    cache_url: str = ""
    monitor_url: str = ""
    idds_server: str | None = None
    auth: str = "oidc"
    auth_vo: str = "Rubin"
    token_file: str = ""
    verify_host: bool = True
    config_root: str = ""

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> PandaConfig:
        """Build from a settings-like mapping (``MSPROC_PANDA_*`` keys, falling back to panda-client's own).

        Raises PandaError (permanent) when no PanDA URL is configured.
        """
        def get(key: str, *fallbacks: str, default: Any = "") -> Any:
            for name in (key, *fallbacks):
                value = values.get(name)
                if value not in (None, ""):
                    return value
            return default

        url = get("MSPROC_PANDA_URL", "PANDA_URL")
        if not url:
            raise PandaError("PanDA is not configured: set MSPROC_PANDA_URL (or PANDA_URL)", permanent=True)
        verify = get("MSPROC_PANDA_VERIFY_HOST", default=True)
        if isinstance(verify, str):
            verify = verify.strip().lower() not in {"0", "false", "no", "off"}
        pvh = values.get("PANDA_VERIFY_HOST")
        if pvh is not None and str(pvh).lower() == "off":
            verify = False
        return cls(
            url=url,
            url_ssl=get("MSPROC_PANDA_URL_SSL", "PANDA_URL_SSL", default=url),
            cache_url=get("MSPROC_PANDACACHE_URL", "PANDACACHE_URL", default=get("MSPROC_PANDA_URL_SSL", default=url)),
            monitor_url=str(get("MSPROC_PANDA_MONITOR_URL", "PANDAMON_URL")).rstrip("/"),
            idds_server=get("MSPROC_PANDA_IDDS_SERVER", "IDDS_SERVER", default=None),
            auth=get("MSPROC_PANDA_AUTH", "PANDA_AUTH", default="oidc"),
            auth_vo=get("MSPROC_PANDA_AUTH_VO", "PANDA_AUTH_VO", default="Rubin"),
            token_file=get("MSPROC_PANDA_TOKEN_FILE", "OIDC_AUTH_TOKEN_FILE"),
            verify_host=bool(verify),
            config_root=get("MSPROC_PANDA_CONFIG_ROOT", "PANDA_CONFIG_ROOT"),
        )

    def environment(self) -> dict[str, str]:
        """Return the environment variables panda-client and the BPS plugin read."""
        env = {
            "PANDA_URL": self.url,
            "PANDA_URL_SSL": self.url_ssl or self.url,
            "PANDACACHE_URL": self.cache_url or self.url_ssl or self.url,
            # Servers behind a real load balancer; also stops the import-time DNS lookup of the cache host.
            "PANDA_BEHIND_REAL_LB": "1",
            "PANDA_AUTH": self.auth,
            "PANDA_AUTH_VO": self.auth_vo,
            "PANDA_VERIFY_HOST": "on" if self.verify_host else "off",
        }
        if self.token_file:
            env["OIDC_AUTH_TOKEN_FILE"] = self.token_file
        if self.config_root:
            env["PANDA_CONFIG_ROOT"] = self.config_root
        return env

    def check_credentials(self) -> None:
        """Raise PandaError (permanent) when no token can be found, instead of letting panda-client exit."""
        if self.auth != "oidc":
            return
        if any(os.environ.get(name) for name in _TOKEN_VARIABLES):
            return
        if not self.token_file:
            raise PandaError("no PanDA token: set MSPROC_PANDA_TOKEN_FILE or PANDA_AUTH_ID_TOKEN", permanent=True)
        if not os.access(self.token_file, os.R_OK):
            raise PandaError(f"PanDA token file {self.token_file} is missing or unreadable", permanent=True)

    def monitor_links(self, request_id: int | str) -> dict[str, str]:
        """Return PanDA monitor links of an iDDS request (empty without a monitor URL)."""
        if not self.monitor_url:
            return {}
        return {
            "monitor_url": f"{self.monitor_url}/idds/wfprogress/?reqid={request_id}",
            "tasks_url": f"{self.monitor_url}/tasks/?reqid={request_id}",
        }


def activate(config: PandaConfig) -> None:
    """Point panda-client (imported or not) at ``config``. Safe to call before every call."""
    with _LOCK:
        os.environ.update(config.environment())
        import pandaclient.Client as panda_client  # import after the environment is set

        for attribute, url in (("baseURL", config.url), ("baseURLSSL", config.url_ssl or config.url),
                               ("baseURLCSRVSSL", config.cache_url or config.url_ssl or config.url)):
            setattr(panda_client, attribute, url)
        for attribute, url in (("server_base_path", config.url), ("server_base_path_ssl", config.url_ssl or config.url),
                               ("cache_base_path_ssl", config.cache_url or config.url)):
            parsed = urlparse(url)
            setattr(panda_client, attribute, f"{parsed.scheme}://{parsed.netloc}/api/v1")


@contextlib.contextmanager
def guarded(what: str) -> Iterator[None]:
    """Run a PanDA/iDDS call; turn any failure (``SystemExit`` from panda-client too) into PandaError."""
    try:
        yield
    except PandaError:
        raise
    except SystemExit as exc:
        raise PandaError(f"{what}: panda-client gave up (exit {exc.code}); check the PanDA URL and token") from None
    except Exception as exc:  # the clients raise bare RuntimeError/Exception for outages and bad answers
        raise PandaError(f"{what}: {type(exc).__name__}: {exc}") from exc


def idds_call(config: PandaConfig, command: str, **kwargs: Any) -> Any:
    """Call an iDDS ClientManager command through PanDA's relay, as the BPS plugin does.

    Returns the iDDS result. Raises PandaError: permanent when no token is
    configured, transient otherwise (PanDA unreachable, an HTTP error, or
    iDDS failing behind the relay: the next call may well work).
    """
    config.check_credentials()
    activate(config)
    with guarded(f"iDDS {command}"):
        from lsst.ctrl.bps.panda.utils import get_idds_client

        client = get_idds_client({"iddsServer": config.idds_server} if config.idds_server else None)
        ret = getattr(client, command)(**kwargs)
    if not isinstance(ret, list | tuple) or not ret or ret[0] != 0:
        detail = ret[1] if isinstance(ret, list | tuple) and len(ret) > 1 else ret
        raise PandaError(f"iDDS {command}: PanDA unreachable or failed: {str(detail)[:300]}")
    payload = ret[1]
    if not isinstance(payload, list | tuple) or len(payload) < 2:
        raise PandaError(f"iDDS {command}: unexpected answer {str(payload)[:300]}")
    if not payload[0]:
        raise PandaError(f"iDDS {command}: {str(payload[1])[:500]}")
    result = payload[1]
    # A ClientManager exception comes back as a successful relay of (False, message).
    if isinstance(result, list | tuple) and len(result) == 2 and result[0] is False:
        raise PandaError(f"iDDS {command}: {str(result[1])[:500]}")
    return result
