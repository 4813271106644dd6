"""Judge prices per million tokens, for cost estimates; `--price-in/--price-out` override them."""

from __future__ import annotations

# USD per million (input, output) tokens, OpenAI list prices for the standard tier as last
# checked by the maintainers (2025); providers change them, so pass --price-in/--price-out to be sure.
# Prefix match on the model name, longest first, so dated snapshots find their family.
PRICES_PER_MILLION: dict[str, tuple[float, float]] = {
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4o": (2.50, 10.00),
    "gpt-4.1-nano": (0.10, 0.40),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1": (2.00, 8.00),
    "gpt-4-turbo": (10.00, 30.00),
    "gpt-4": (30.00, 60.00),
    "gpt-3.5-turbo": (0.50, 1.50),
    "o4-mini": (1.10, 4.40),
    "o3-mini": (1.10, 4.40),
}


def price_per_million(
    model: str | None, *, price_in: float | None = None, price_out: float | None = None
) -> tuple[float, float] | None:
    """(input, output) USD per million tokens: the overrides, else the table; None if unknown."""
    if price_in is not None and price_out is not None:
        return (price_in, price_out)
    known = next(
        (
            prices
            for name, prices in sorted(PRICES_PER_MILLION.items(), key=lambda item: -len(item[0]))
            if model and model.startswith(name)
        ),
        None,
    )
    if known is None:
        return None
    return (price_in if price_in is not None else known[0], price_out if price_out is not None else known[1])


def cost_usd(prompt_tokens: int, completion_tokens: int, prices: tuple[float, float]) -> float:
    """Cost of the tokens at `prices` (USD per million input, output)."""
    return (prompt_tokens * prices[0] + completion_tokens * prices[1]) / 1_000_000
