"""The transports that post chat completions: aiohttp (the default, fast) and the openai SDK.

Each lives in its own module, the only one importing its HTTP library, and is imported only when
a judge first sends (`make_client`). `SdkHooks` carries what only the SDK transport can use.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from judgekit._config import JudgeConfig
from judgekit._engine.exchange import JudgeClient
from judgekit._errors import ConfigError

AzureTokenProvider = Callable[[], str | Awaitable[str]]
"""Returns an Azure AD (Entra ID) bearer token; called before requests, so it may refresh."""


@dataclass(frozen=True)
class SdkHooks:
    """Objects the openai SDK transport takes as they are: they cannot live in a JudgeConfig.

    `http_client` is an `httpx2.AsyncClient` (proxies, custom TLS, a corporate gateway);
    `azure_ad_token_provider` authenticates to Azure OpenAI with Entra ID instead of a key.
    """

    http_client: Any = None
    azure_ad_token_provider: AzureTokenProvider | None = None

    def __bool__(self) -> bool:
        return self.http_client is not None or self.azure_ad_token_provider is not None

    def check(self, config: JudgeConfig) -> None:
        """Raise ConfigError when `config` cannot use these hooks."""
        if not self:
            return
        if config.transport != "sdk":
            raise ConfigError(
                "http_client and azure_ad_token_provider are used by the openai SDK transport only; "
                "pass transport='sdk' (--transport sdk)"
            )
        if self.azure_ad_token_provider is not None and not config.api_version:
            raise ConfigError(
                "azure_ad_token_provider authenticates to Azure OpenAI: set api_version "
                "(--api-version) and base_url to the Azure resource endpoint"
            )


def make_client(config: JudgeConfig, hooks: SdkHooks | None = None) -> JudgeClient:
    """A client of the transport `config.transport` names."""
    if config.transport == "sdk":
        from judgekit._engine.transports.openai_sdk import SdkClient

        return SdkClient(config, hooks)
    from judgekit._engine.transports.aiohttp_client import AiohttpClient

    return AiohttpClient(config)


def preload(config: JudgeConfig) -> None:
    """Import the transport's module now (before worker processes fork, so each need not)."""
    if config.transport == "sdk":
        import judgekit._engine.transports.openai_sdk
    else:
        import judgekit._engine.transports.aiohttp_client  # noqa: F401
