"""The simulator's market model: seeded, deterministic, venue-neutral, pure.

One :class:`MarketModel` holds every market (binary: a YES and a NO token), both tokens' order
books, the trade log and one simulated account per venue (``"clob"`` and ``"us"``). It has no
asyncio, no sockets and no wall clock: time is passed in (``now_ms``), so for a given seed and
the same sequence of ``now_ms`` values :meth:`MarketModel.step` returns the same changes.

The venue front-ends (:mod:`polyresearch.simulator.clob`, :mod:`polyresearch.simulator.us`)
consume the list of :data:`Change` objects each step returns and turn them into wire frames;
``docs/simulator-interfaces.md`` is the contract between the two sides.

Market mechanics, kept deliberately simple and cheap (thousands of markets are fine):

- Only the YES book is driven; the NO book is its mirror (a bid at p on YES is an ask at 1-p on
  NO, same size), and every :class:`BookChanged` carries the YES entry followed by its NO mirror.
- Order flow: adds near the top of book (anchored on a random-walking fair value), cancels of
  other traders' resting size, and taker trades that consume levels from the best price.
- The tick size is 0.01, and 0.001 while the YES mid is above 0.96 or below 0.04 (with a small
  hysteresis so it does not flap); each switch emits one :class:`TickSizeChanged` per token.
- Markets resolve now and then (winner drawn from the mid price) and a fresh market opens in
  their place, so the number of live markets stays constant.
- Each account occasionally places resting orders at the best price, cancels them, or takes
  liquidity. Resting account orders sit in the book with a FIFO queue position, so they are
  filled only when the flow trades through the size ahead of them. Fills move positions and
  balances and then settle (MATCHED → MINED → CONFIRMED, sometimes via RETRYING, rarely
  FAILED, which reverts the fill's effect on the account).

Example:
    >>> model = MarketModel(seed=7, markets=3)
    >>> m = model.markets[0]
    >>> len(m.token_ids[0]), m.condition_id[:2], len(m.condition_id)
    (77, '0x', 66)
    >>> yes, no = model.book(m.token_ids[0]), model.book(m.token_ids[1])
    >>> yes.best_bid() == 1 - no.best_ask()
    True
    >>> changes = [c for t in range(1, 200) for c in model.step(t)]
    >>> any(isinstance(c, BookChanged) for c in changes)
    True
"""

from __future__ import annotations

import heapq
import random
import uuid
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Any, Final, Literal

__all__ = [
    "ACCOUNTS",
    "TICK_COARSE",
    "TICK_FINE",
    "Account",
    "AccountFill",
    "AccountOrder",
    "BalanceChanged",
    "Book",
    "BookChanged",
    "BookSnapshot",
    "Change",
    "Fill",
    "FillUpdated",
    "LevelSet",
    "MarketModel",
    "MarketOpened",
    "MarketResolved",
    "ModelConfig",
    "OrderChanged",
    "OrderIndex",
    "PositionChanged",
    "SimMarket",
    "TickSizeChanged",
    "TradeExecuted",
    "plain",
]

BookSide = Literal["bid", "ask"]
TakerSide = Literal["buy", "sell"]
OrderKind = Literal["placement", "update", "cancellation"]
OrderStatus = Literal["live", "matched", "canceled", "canceled_market_resolved"]
FillStatus = Literal["MATCHED", "MINED", "CONFIRMED", "RETRYING", "FAILED"]
#: Fill statuses that never change again.
_SETTLED: Final = frozenset({"CONFIRMED", "FAILED"})
Role = Literal["maker", "taker"]

#: The two simulated accounts, one per venue front-end.
ACCOUNTS: Final = ("clob", "us")

ZERO: Final = Decimal(0)
ONE: Final = Decimal(1)
#: Normal tick, and the fine tick used near the ends of the price range (protocol-clob.md §4.4).
TICK_COARSE: Final = Decimal("0.01")
TICK_FINE: Final = Decimal("0.001")
_FINE_ABOVE: Final = Decimal("0.96")
_FINE_BELOW: Final = Decimal("0.04")
# Hysteresis: back to the coarse tick only once the mid is clearly inside the range again.
_COARSE_BELOW: Final = Decimal("0.95")
_COARSE_ABOVE: Final = Decimal("0.05")
_MIN_ORDER_SIZE: Final = Decimal(5)
_CENT: Final = Decimal("0.01")
#: Bounds of a market's fair value (module constants: _drift runs on most steps).
_FAIR_MIN: Final = Decimal("0.005")
_FAIR_MAX: Final = Decimal("0.995")
#: Fair-value moves already converted to Decimal (rounded to 4 places: a few hundred values).
_DRIFT_STEPS: dict[float, Decimal] = {}
_DRIFT_STEPS_MAX: Final = 4096
_BASE_DATE: Final = datetime(2026, 6, 1, tzinfo=UTC)


def plain(value: Decimal) -> str:
    """Render a decimal the way the CLOB writes it: no exponent, no trailing zeros.

    Example:
        >>> plain(Decimal("0.500")), plain(Decimal("200.00")), plain(Decimal("1E+2"))
        ('0.5', '200', '100')
    """
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text or "0"


# ---------------------------------------------------------------------------- markets and books


@dataclass(slots=True)
class SimMarket:
    """One binary market. Mutable: tick size, activity and resolution change over time."""

    market_id: str
    condition_id: str
    slug: str
    question: str
    outcomes: tuple[str, str]
    #: 77-digit decimal strings; ``[0]`` is YES, ``[1]`` is NO.
    token_ids: tuple[str, str]
    tick_size: Decimal
    min_order_size: Decimal
    neg_risk: bool
    active: bool
    resolved: bool
    winning_token: str | None
    #: Slug of the (single-market) event the market belongs to.
    event_slug: str = ""
    event_id: str = ""
    description: str = ""
    #: ISO 8601 end date, for Gamma's ``endDate``.
    end_date: str = ""
    opened_ms: int = 0
    resolved_ms: int | None = None


class Book:
    """One token's aggregated book: price → absolute size, per side.

    Example:
        >>> b = Book("1", "0x")
        >>> b.bids[Decimal("0.4")] = Decimal(10)
        >>> b.best_bid(), b.best_ask()
        (Decimal('0.4'), None)
    """

    __slots__ = ("asks", "bids", "condition_id", "last_trade_price", "token_id")

    def __init__(self, token_id: str, condition_id: str) -> None:
        self.token_id = token_id
        self.condition_id = condition_id
        self.bids: dict[Decimal, Decimal] = {}
        self.asks: dict[Decimal, Decimal] = {}
        self.last_trade_price: Decimal | None = None

    def bids_desc(self) -> list[tuple[Decimal, Decimal]]:
        """Bid levels, best (highest) first."""
        return sorted(self.bids.items(), reverse=True)

    def asks_asc(self) -> list[tuple[Decimal, Decimal]]:
        """Ask levels, best (lowest) first."""
        return sorted(self.asks.items())

    def best_bid(self) -> Decimal | None:
        """Highest bid price, or None when there are no bids."""
        return max(self.bids) if self.bids else None

    def best_ask(self) -> Decimal | None:
        """Lowest ask price, or None when there are no asks."""
        return min(self.asks) if self.asks else None

    def snapshot(self, tick_size: Decimal) -> BookSnapshot:
        """Return an immutable copy (ground truth for tests and notebooks)."""
        return BookSnapshot(
            token_id=self.token_id,
            condition_id=self.condition_id,
            bids=tuple(self.bids_desc()),
            asks=tuple(self.asks_asc()),
            last_trade_price=self.last_trade_price,
            tick_size=tick_size,
        )


@dataclass(frozen=True, slots=True)
class BookSnapshot:
    """An immutable copy of one token's book: bids best first (descending), asks ascending."""

    token_id: str
    condition_id: str
    bids: tuple[tuple[Decimal, Decimal], ...]
    asks: tuple[tuple[Decimal, Decimal], ...]
    last_trade_price: Decimal | None
    tick_size: Decimal


# ---------------------------------------------------------------------------- accounts


@dataclass(frozen=True, slots=True)
class AccountOrder:
    """One order of a simulated account, in its own token's terms. Replaced, never mutated."""

    order_id: str
    account: str
    condition_id: str
    token_id: str
    side: TakerSide
    price: Decimal
    original_size: Decimal
    size_matched: Decimal
    status: OrderStatus
    #: ``"GTC"`` for resting orders, ``"FOK"`` for the account's taker orders.
    order_type: str
    created_ms: int
    updated_ms: int
    #: Trade ids this order took part in, oldest first.
    associate_trades: tuple[str, ...] = ()

    @property
    def remaining(self) -> Decimal:
        """Size still open."""
        return self.original_size - self.size_matched


@dataclass(frozen=True, slots=True)
class AccountFill:
    """One fill of a simulated account (a trade from that account's point of view)."""

    trade_id: str
    account: str
    order_id: str
    #: The taker's order id (the account's own order id when the account was the taker).
    taker_order_id: str
    condition_id: str
    token_id: str
    #: The account's side.
    side: TakerSide
    price: Decimal
    size: Decimal
    role: Role
    status: FillStatus
    match_ms: int
    updated_ms: int
    transaction_hash: str = ""
    #: The resting orders on the other side when the account was the taker: (order_id, size).
    counterparties: tuple[tuple[str, Decimal], ...] = ()


class OrderIndex(dict[str, AccountOrder]):
    """An account's orders by id that also indexes the live ones, in placement order.

    Orders are never deleted (they are the ground truth), so a scan for the live ones grows
    with the run: at soak rates that scan came to dominate a model step. Every write goes
    through ``__setitem__`` (or the other mutators below), which keeps :attr:`live` in step.

    Example:
        >>> index = OrderIndex()
        >>> len(index.live)
        0
    """

    __slots__ = ("live",)

    def __init__(self, orders: Mapping[str, AccountOrder] | None = None) -> None:
        super().__init__()
        #: The live orders, keyed by id, in the order they were first stored.
        self.live: dict[str, AccountOrder] = {}
        if orders:
            self.update(orders)

    def __setitem__(self, order_id: str, order: AccountOrder) -> None:
        super().__setitem__(order_id, order)
        if order.status == "live":
            self.live[order_id] = order  # an existing key keeps its place
        else:
            self.live.pop(order_id, None)

    def __delitem__(self, order_id: str) -> None:
        super().__delitem__(order_id)
        self.live.pop(order_id, None)

    def pop(self, order_id: str, *default: Any) -> Any:  # noqa: D102 - dict.pop
        self.live.pop(order_id, None)
        return super().pop(order_id, *default)

    def popitem(self) -> tuple[str, AccountOrder]:  # noqa: D102 - dict.popitem
        order_id, order = super().popitem()
        self.live.pop(order_id, None)
        return order_id, order

    def clear(self) -> None:  # noqa: D102 - dict.clear
        super().clear()
        self.live.clear()

    def update(self, *args: Any, **kwargs: AccountOrder) -> None:  # noqa: D102 - dict.update
        for order_id, order in dict(*args, **kwargs).items():
            self[order_id] = order

    def setdefault(self, order_id: str, default: Any = None) -> Any:  # noqa: D102
        if order_id not in self:
            self[order_id] = default
        return self[order_id]


@dataclass(slots=True)
class Account:
    """One simulated account: cash, positions per token, orders and fills (ground truth)."""

    name: str
    balance: Decimal
    positions: dict[str, Decimal] = field(default_factory=dict)
    orders: OrderIndex = field(default_factory=OrderIndex)
    fills: dict[str, AccountFill] = field(default_factory=dict)
    #: Finished orders and settled fills dropped, oldest first, to hold each of ``orders`` and
    #: ``fills`` to ``ModelConfig.max_account_history`` (a simulator may run all day).
    evicted_orders: int = 0
    evicted_fills: int = 0

    def open_orders(self) -> list[AccountOrder]:
        """Orders still resting in a book, in placement order."""
        return list(self.orders.live.values())


# ---------------------------------------------------------------------------- changes


@dataclass(frozen=True, slots=True)
class LevelSet:
    """One level of one token's book now has this absolute size (0 removes the level)."""

    token_id: str
    side: BookSide
    price: Decimal
    size: Decimal


@dataclass(frozen=True, slots=True)
class BookChanged:
    """Levels changed in one market; each YES entry is followed by its NO mirror."""

    ts_ms: int
    condition_id: str
    levels: tuple[LevelSet, ...]


@dataclass(frozen=True, slots=True)
class TradeExecuted:
    """A fill at one price level, in ``token_id``'s terms (the taker's token).

    A taker order that walks several levels yields one ``TradeExecuted`` per level, each
    followed by the :class:`BookChanged` of the level it consumed; ``last_fill`` marks the last
    one of the taker order (front-ends send their post-trade snapshot after it). Both tokens'
    last trade prices are already updated when this change is emitted (the sibling's is 1-p).
    """

    ts_ms: int
    condition_id: str
    token_id: str
    price: Decimal
    size: Decimal
    taker_side: TakerSide
    trade_id: str
    #: The simulated account that took part (as maker or taker), if any.
    account: str | None
    last_fill: bool = True
    #: ``"maker"``/``"taker"`` when ``account`` is set.
    account_role: Role | None = None


@dataclass(frozen=True, slots=True)
class TickSizeChanged:
    """A token's minimum tick changed (one change per token; levels keep their prices)."""

    ts_ms: int
    condition_id: str
    token_id: str
    old: Decimal
    new: Decimal


@dataclass(frozen=True, slots=True)
class MarketOpened:
    """A new market was listed, with its initial books already in place."""

    ts_ms: int
    condition_id: str


@dataclass(frozen=True, slots=True)
class MarketResolved:
    """A market resolved; its books are terminal from now on."""

    ts_ms: int
    condition_id: str
    winning_token: str


@dataclass(frozen=True, slots=True)
class OrderChanged:
    """An account order was placed, (partly) filled or cancelled; ``order`` is its new state."""

    ts_ms: int
    account: str
    kind: OrderKind
    order: AccountOrder


@dataclass(frozen=True, slots=True)
class Fill:
    """An account order matched (status ``MATCHED``); settlement follows as :class:`FillUpdated`."""

    ts_ms: int
    account: str
    fill: AccountFill


@dataclass(frozen=True, slots=True)
class FillUpdated:
    """A fill's settlement status moved on (``MINED``, ``CONFIRMED``, ``RETRYING``, ``FAILED``)."""

    ts_ms: int
    account: str
    fill: AccountFill


@dataclass(frozen=True, slots=True)
class PositionChanged:
    """An account's position in one token changed."""

    ts_ms: int
    account: str
    condition_id: str
    token_id: str
    before: Decimal
    after: Decimal
    #: ``"trade"``, ``"trade_failed"`` (reverted) or ``"resolution"``.
    reason: str
    trade_id: str = ""


@dataclass(frozen=True, slots=True)
class BalanceChanged:
    """An account's cash balance changed."""

    ts_ms: int
    account: str
    before: Decimal
    after: Decimal
    reason: str
    trade_id: str = ""


Change = (
    BookChanged
    | TradeExecuted
    | TickSizeChanged
    | MarketOpened
    | MarketResolved
    | OrderChanged
    | Fill
    | FillUpdated
    | PositionChanged
    | BalanceChanged
)


# ---------------------------------------------------------------------------- configuration


@dataclass(frozen=True, slots=True)
class ModelConfig:
    """Knobs of the market model. Every field has a sensible default.

    Example:
        >>> ModelConfig(settle_delay_ms=(10, 20)).settle_delay_ms
        (10, 20)
    """

    #: Deepest a book side grows (further adds push out the worst level).
    max_levels: int = 20
    #: Initial number of levels per side, drawn uniformly from this range.
    initial_levels: tuple[int, int] = (6, 14)
    #: Relative weights of the three kinds of flow.
    weight_add: float = 0.45
    weight_cancel: float = 0.37
    weight_trade: float = 0.18
    #: Standard deviation of a market's fair-value random walk each time it is touched.
    volatility: float = 0.004
    #: Probability that a step is an account action instead of market flow.
    account_rate: float = 0.04
    #: Probability that a step resolves a market (and opens a new one).
    lifecycle_rate: float = 0.0005
    #: How many markets the accounts trade in (the first ones); flow favours them a little.
    focus_markets: int = 3
    #: Share of market-flow steps that go to a focus market.
    focus_share: float = 0.2
    #: Open orders per account before it prefers cancelling.
    max_open_orders: int = 4
    #: Delay between settlement stages of a fill, drawn uniformly (simulated ms).
    settle_delay_ms: tuple[int, int] = (800, 2500)
    #: Probability that a fill goes through RETRYING, and that a retrying fill then FAILS.
    retry_rate: float = 0.1
    fail_rate: float = 0.3
    initial_balance: Decimal = Decimal(10_000)
    #: Trades kept in the ground-truth trade log (oldest dropped first).
    max_trade_log: int = 1_000_000
    #: Orders, and fills, kept per account. Past it the oldest finished orders (not live, no
    #: fill still settling) and settled fills (CONFIRMED or FAILED) are dropped and counted in
    #: ``Account.evicted_orders`` / ``evicted_fills``; live orders and settling fills stay.
    max_account_history: int = 100_000


# ---------------------------------------------------------------------------- internals


@dataclass(slots=True)
class _Resting:
    """An account order's place in a YES level's FIFO queue (YES terms)."""

    order_id: str
    account: str
    #: Size queued in front of this order at the level (others and earlier account orders).
    ahead: Decimal
    remaining: Decimal


@dataclass(slots=True)
class _MarketState:
    market: SimMarket
    yes: Book
    no: Book
    fair: Decimal
    resting: dict[tuple[BookSide, Decimal], list[_Resting]] = field(default_factory=dict)


_LEAGUES: Final = {
    "nba": ("ny", "sa", "lal", "bos", "gsw", "mia", "den", "phx", "dal", "mil", "okc", "cle"),
    "nfl": ("kc", "phi", "buf", "sf", "dal", "bal", "det", "gb", "cin", "mia", "nyj", "sea"),
    "mlb": ("phi", "stl", "nyy", "lad", "bos", "hou", "atl", "sd", "sea", "tor", "chc", "tex"),
    "nhl": ("nyr", "bos", "edm", "fla", "col", "dal", "tor", "vgk", "car", "wpg", "van", "nj"),
    "epl": ("ars", "che", "liv", "mci", "mun", "tot", "new", "avl", "bha", "whu", "eve", "ful"),
}
_CRYPTO: Final = ("btc", "eth", "sol", "xrp")


class MarketModel:
    """The deterministic market model shared by every venue front-end.

    Args:
        seed: Seed of the model's private :class:`random.Random`.
        markets: Number of live markets (kept constant: a resolved market is replaced).
        config: Flow, account and settlement knobs.
        start_ms: Simulated time of the initial state (``opened_ms`` of the first markets).

    Raises:
        ValueError: ``markets`` is not positive.

    Example:
        >>> model = MarketModel(seed=1, markets=2)
        >>> sorted(model.accounts), len(model.by_token)
        (['clob', 'us'], 4)
    """

    def __init__(
        self,
        *,
        seed: int,
        markets: int,
        config: ModelConfig | None = None,
        start_ms: int = 0,
    ) -> None:
        if markets < 1:
            raise ValueError("markets must be at least 1")
        self.seed = seed
        self.config = config or ModelConfig()
        self._rng = random.Random(seed)
        self._now = start_ms
        #: Every market ever listed, in listing order (resolved ones included).
        self.markets: list[SimMarket] = []
        self.by_condition: dict[str, SimMarket] = {}
        self.by_slug: dict[str, SimMarket] = {}
        self.by_token: dict[str, SimMarket] = {}
        self._state: dict[str, _MarketState] = {}
        self._live: list[str] = []
        self._focus: list[str] = []
        self._slugs: set[str] = set()
        self._gamma_base = self._rng.randrange(500_000, 900_000)
        #: Ground-truth trade log, oldest first (bounded by ``config.max_trade_log``).
        self.trades: deque[TradeExecuted] = deque(maxlen=self.config.max_trade_log)
        self.accounts: dict[str, Account] = {
            name: Account(name=name, balance=self.config.initial_balance) for name in ACCOUNTS
        }
        self._settle: list[tuple[int, int, str, str]] = []
        self._settle_seq = 0
        #: Steps taken so far.
        self.steps = 0
        for _ in range(markets):
            self._list_market(start_ms)
        self._focus = self._live[: max(0, min(self.config.focus_markets, markets))]
        total = self.config.weight_add + self.config.weight_cancel + self.config.weight_trade
        self._p_add = self.config.weight_add / total
        self._p_cancel = self._p_add + self.config.weight_cancel / total

    # ------------------------------------------------------------------ public read API

    def book(self, token_id: str) -> Book:
        """Return the live book of a token (the model's own object: do not mutate).

        Raises:
            KeyError: unknown token id.
        """
        state = self._state[self.by_token[token_id].condition_id]
        return state.yes if state.market.token_ids[0] == token_id else state.no

    def live_markets(self) -> list[SimMarket]:
        """Markets that are listed and not resolved, in listing order."""
        return [self._state[c].market for c in self._live]

    def focus_markets(self) -> list[SimMarket]:
        """The markets the simulated accounts trade in."""
        return [self._state[c].market for c in self._focus]

    def sibling(self, token_id: str) -> str:
        """The other token of the token's market."""
        yes, no = self.by_token[token_id].token_ids
        return no if token_id == yes else yes

    @property
    def now_ms(self) -> int:
        """The latest ``now_ms`` the model was stepped with."""
        return self._now

    # ------------------------------------------------------------------ stepping

    def step(self, now_ms: int) -> list[Change]:
        """Advance the model by one simulated action at time ``now_ms``.

        Due settlements are processed first, then one action: market flow (add, cancel or
        trade), an account action, or (rarely) a market resolving and a new one opening.

        Returns:
            The changes, in the order they happened (possibly empty).
        """
        self._now = now_ms
        self.steps += 1
        out: list[Change] = []
        self._run_settlements(now_ms, out)
        rng = self._rng
        roll = rng.random()
        cfg = self.config
        if roll < cfg.lifecycle_rate:
            self._resolve_one(out)
        elif roll < cfg.lifecycle_rate + cfg.account_rate:
            self._account_action(out)
        else:
            if self._focus and rng.random() < cfg.focus_share:
                state = self._state[rng.choice(self._focus)]
            else:
                state = self._state[rng.choice(self._live)]
            kind = rng.random()
            if kind < self._p_add:
                self._flow_add(state, out)
            elif kind < self._p_cancel:
                self._flow_cancel(state, out)
            else:
                self._flow_trade(state, out, taker=None)
        limit = cfg.max_account_history
        for account in self.accounts.values():
            if len(account.orders) > limit or len(account.fills) > limit:
                self._trim_history(account, limit)
        return out

    def run(self, now_ms: Iterable[int]) -> list[Change]:
        """Step once per timestamp and return all changes (a convenience for tests)."""
        out: list[Change] = []
        for ts in now_ms:
            out.extend(self.step(ts))
        return out

    # ------------------------------------------------------------------ listing and resolution

    def _new_id(self, bits: int) -> str:
        return f"0x{self._rng.getrandbits(bits):0{bits // 4}x}"

    def _uuid(self) -> str:
        return str(uuid.UUID(int=self._rng.getrandbits(128), version=4))

    def _make_slug(self, index: int) -> tuple[str, str, str]:
        rng = self._rng
        day = _BASE_DATE + timedelta(days=rng.randrange(0, 120))
        date = day.strftime("%Y-%m-%d")
        if rng.random() < 0.15:
            coin = rng.choice(_CRYPTO)
            hhmm = f"{rng.randrange(24):02d}{rng.choice((0, 15, 30, 45)):02d}"
            slug = f"cpc-{coin}-updown-15m-{date}-{hhmm}z"
            question = f"{coin.upper()} up or down, 15 minutes from {date} {hhmm} UTC?"
            event = f"{coin}-updown-15m-{date}-{hhmm}z"
        else:
            league = rng.choice(sorted(_LEAGUES))
            home, away = rng.sample(_LEAGUES[league], 2)
            kind = rng.random()
            event = f"{league}-{home}-{away}-{date}"
            if kind < 0.6:
                slug = f"aec-{event}"
                question = f"Will {home.upper()} beat {away.upper()} on {date}?"
            elif kind < 0.8:
                line = rng.randrange(180, 240) if league == "nba" else rng.randrange(2, 9)
                slug = f"tsc-{event}-{line}pt5"
                question = f"{home.upper()} vs {away.upper()} on {date}: over {line}.5 points?"
            else:
                slug = f"atc-{event}-{home}"
                question = f"Will {home.upper()} win the {league.upper()} game on {date}?"
        base = slug
        n = 2
        while slug in self._slugs:
            slug = f"{base}-{n}"
            n += 1
        self._slugs.add(slug)
        return slug, question, event

    def _list_market(self, now_ms: int) -> _MarketState:
        rng = self._rng
        index = len(self.markets)
        slug, question, event_slug = self._make_slug(index)
        yes_id = str(rng.randrange(10**76, 10**77))
        no_id = str(rng.randrange(10**76, 10**77))
        condition_id = self._new_id(256)
        roll = rng.random()
        if roll < 0.06:
            fair = Decimal(rng.randrange(970, 995)) / 1000
        elif roll < 0.12:
            fair = Decimal(rng.randrange(5, 30)) / 1000
        else:
            fair = Decimal(rng.randrange(8, 93)) / 100
        fine = fair > _FINE_ABOVE or fair < _FINE_BELOW
        tick = TICK_FINE if fine else TICK_COARSE
        end = _BASE_DATE + timedelta(days=120 + rng.randrange(0, 60))
        market = SimMarket(
            market_id=str(self._gamma_base + index),
            condition_id=condition_id,
            slug=slug,
            question=question,
            outcomes=("Yes", "No"),
            token_ids=(yes_id, no_id),
            tick_size=tick,
            min_order_size=_MIN_ORDER_SIZE,
            neg_risk=rng.random() < 0.2,
            active=True,
            resolved=False,
            winning_token=None,
            event_slug=event_slug,
            event_id=str(30_000 + index),
            description=f"Simulated market: {question} Resolves by the simulator's coin.",
            end_date=end.strftime("%Y-%m-%dT%H:%M:%SZ"),
            opened_ms=now_ms,
        )
        state = _MarketState(
            market=market, yes=Book(yes_id, condition_id), no=Book(no_id, condition_id), fair=fair
        )
        self._fill_initial(state)
        self.markets.append(market)
        self.by_condition[condition_id] = market
        self.by_slug[slug] = market
        self.by_token[yes_id] = market
        self.by_token[no_id] = market
        self._state[condition_id] = state
        self._live.append(condition_id)
        return state

    def _fill_initial(self, state: _MarketState) -> None:
        rng = self._rng
        tick = state.market.tick_size
        lo, hi = self.config.initial_levels
        fair = state.fair
        best_bid = _floor(fair - tick * rng.randrange(0, 3), tick)
        best_ask = max(_ceil(fair + tick * rng.randrange(0, 3), tick), best_bid + tick)
        price = best_bid
        for _ in range(rng.randint(lo, hi)):
            if price < tick:
                break
            self._apply_yes(state, "bid", price, self._size(), None)
            price -= tick * rng.randint(1, 2)
        price = best_ask
        for _ in range(rng.randint(lo, hi)):
            if price > ONE - tick:
                break
            self._apply_yes(state, "ask", price, self._size(), None)
            price += tick * rng.randint(1, 2)

    def _resolve_one(self, out: list[Change]) -> None:
        rng = self._rng
        condition_id = rng.choice(self._live)
        state = self._state[condition_id]
        market = state.market
        now = self._now
        mid = self._mid(state)
        winner = market.token_ids[0] if rng.random() < float(mid) else market.token_ids[1]
        # Account orders in the market are cancelled by the venue when it resolves.
        for account in self.accounts.values():
            for order in account.open_orders():
                if order.condition_id == condition_id:
                    levels = self._drop_resting(state, order)
                    if levels:
                        out.append(BookChanged(now, condition_id, tuple(levels)))
                    updated = replace(order, status="canceled_market_resolved", updated_ms=now)
                    account.orders[order.order_id] = updated
                    out.append(OrderChanged(now, account.name, "cancellation", updated))
        market.resolved = True
        market.active = False
        market.winning_token = winner
        market.resolved_ms = now
        self._live.remove(condition_id)
        out.append(MarketResolved(now, condition_id, winner))
        # Positions pay out 1 per winning share and expire.
        for account in self.accounts.values():
            for token in market.token_ids:
                held = account.positions.get(token, ZERO)
                if held == ZERO:
                    continue
                account.positions[token] = ZERO
                out.append(
                    PositionChanged(
                        now, account.name, condition_id, token, held, ZERO, "resolution"
                    )
                )
                if token == winner and held > ZERO:
                    before = account.balance
                    account.balance = before + held
                    out.append(
                        BalanceChanged(now, account.name, before, account.balance, "resolution")
                    )
        fresh = self._list_market(now)
        out.append(MarketOpened(now, fresh.market.condition_id))
        if condition_id in self._focus:
            self._focus[self._focus.index(condition_id)] = fresh.market.condition_id

    # ------------------------------------------------------------------ book primitives

    def _size(self) -> Decimal:
        rng = self._rng
        if rng.random() < 0.7:
            return Decimal(rng.randrange(5, 500))
        return Decimal(rng.randrange(500, 500_000)) / 100

    def _mid(self, state: _MarketState) -> Decimal:
        bid = state.yes.best_bid()
        ask = state.yes.best_ask()
        if bid is not None and ask is not None:
            return (bid + ask) / 2
        if bid is not None:
            return bid
        if ask is not None:
            return ask
        return state.fair

    def _apply_yes(
        self,
        state: _MarketState,
        side: BookSide,
        price: Decimal,
        size: Decimal,
        levels: list[LevelSet] | None,
    ) -> None:
        """Set a YES level and its NO mirror; record both entries when ``levels`` is given."""
        mirror_price = ONE - price
        if side == "bid":
            yes_side, no_side = state.yes.bids, state.no.asks
            mirror: BookSide = "ask"
        else:
            yes_side, no_side = state.yes.asks, state.no.bids
            mirror = "bid"
        if size > ZERO:
            yes_side[price] = size
            no_side[mirror_price] = size
        else:
            yes_side.pop(price, None)
            no_side.pop(mirror_price, None)
        if levels is not None:
            levels.append(LevelSet(state.market.token_ids[0], side, price, size))
            levels.append(LevelSet(state.market.token_ids[1], mirror, mirror_price, size))

    def _account_size_at(self, state: _MarketState, side: BookSide, price: Decimal) -> Decimal:
        queue = state.resting.get((side, price))
        return sum((r.remaining for r in queue), ZERO) if queue else ZERO

    def _emit_book(self, state: _MarketState, levels: list[LevelSet], out: list[Change]) -> None:
        if levels:
            out.append(BookChanged(self._now, state.market.condition_id, tuple(levels)))
        self._check_tick(state, out)

    def _check_tick(self, state: _MarketState, out: list[Change]) -> None:
        market = state.market
        mid = self._mid(state)
        if market.tick_size == TICK_COARSE and (mid > _FINE_ABOVE or mid < _FINE_BELOW):
            new = TICK_FINE
        elif market.tick_size == TICK_FINE and _COARSE_ABOVE <= mid <= _COARSE_BELOW:
            new = TICK_COARSE
        else:
            return
        old = market.tick_size
        market.tick_size = new
        for token in market.token_ids:
            out.append(TickSizeChanged(self._now, market.condition_id, token, old, new))

    # ------------------------------------------------------------------ market flow

    def _drift(self, state: _MarketState) -> None:
        move = round(self._rng.gauss(0.0, self.config.volatility), 4)
        # Decimal(float) is the costliest line of a step; the rounded moves repeat, so they
        # are converted once (the same exact Decimal each time: the results do not change).
        step = _DRIFT_STEPS.get(move)
        if step is None:
            if len(_DRIFT_STEPS) >= _DRIFT_STEPS_MAX:
                _DRIFT_STEPS.clear()
            step = _DRIFT_STEPS[move] = Decimal(move)
        state.fair = min(_FAIR_MAX, max(_FAIR_MIN, state.fair + step))

    def _flow_add(self, state: _MarketState, out: list[Change]) -> None:
        rng = self._rng
        self._drift(state)
        tick = state.market.tick_size
        yes = state.yes
        best_bid, best_ask = yes.best_bid(), yes.best_ask()
        side: BookSide = "bid" if rng.random() < 0.5 else "ask"
        depth = min(rng.randrange(0, 7), rng.randrange(0, 7))
        if side == "bid":
            price = _floor(state.fair - tick * depth, tick)
            if best_ask is not None:
                price = min(price, best_ask - tick)
            if best_bid is not None and rng.random() < 0.5:
                price = min(price, best_bid)
            price = max(price, tick)
            if best_ask is not None and price >= best_ask:
                return
            book_side = yes.bids
        else:
            price = _ceil(state.fair + tick * depth, tick)
            if best_bid is not None:
                price = max(price, best_bid + tick)
            if best_ask is not None and rng.random() < 0.5:
                price = max(price, best_ask)
            price = min(price, ONE - tick)
            if best_bid is not None and price <= best_bid:
                return
            book_side = yes.asks
        levels: list[LevelSet] = []
        self._apply_yes(state, side, price, book_side.get(price, ZERO) + self._size(), levels)
        if len(book_side) > self.config.max_levels:
            worst = min(book_side) if side == "bid" else max(book_side)
            keep = self._account_size_at(state, side, worst)
            self._apply_yes(state, side, worst, keep, levels)
        self._emit_book(state, levels, out)

    def _flow_cancel(self, state: _MarketState, out: list[Change]) -> None:
        rng = self._rng
        yes = state.yes
        side: BookSide = "bid" if rng.random() < 0.5 else "ask"
        book_side = yes.bids if side == "bid" else yes.asks
        if not book_side:
            side = "ask" if side == "bid" else "bid"
            book_side = yes.bids if side == "bid" else yes.asks
            if not book_side:
                return
        # Keep at least one level per side most of the time, so books rarely empty out.
        if len(book_side) == 1 and rng.random() < 0.9:
            return
        price = rng.choice(sorted(book_side))
        size = book_side[price]
        mine = self._account_size_at(state, side, price)
        others = size - mine
        if others <= ZERO:
            return
        cancel = others if rng.random() < 0.5 else _cents(others * Decimal(rng.random()))
        if cancel <= ZERO:
            cancel = others
        new_size = size - cancel
        queue = state.resting.get((side, price))
        if queue:
            others_after = others - cancel
            for r in queue:
                before_me = sum((q.remaining for q in queue if q.ahead < r.ahead), ZERO)
                r.ahead = min(r.ahead, others_after + before_me)
        levels: list[LevelSet] = []
        self._apply_yes(state, side, price, new_size, levels)
        self._emit_book(state, levels, out)

    def _flow_trade(
        self,
        state: _MarketState,
        out: list[Change],
        *,
        taker: tuple[str, AccountOrder] | None,
        yes_buy: bool | None = None,
        amount: Decimal | None = None,
    ) -> Decimal:
        """Walk the book with a taker order; return the size filled.

        ``taker`` is ``(account, order)`` when a simulated account takes liquidity.
        """
        rng = self._rng
        self._drift(state)
        market = state.market
        yes = state.yes
        if yes_buy is None:
            mid = self._mid(state)
            yes_buy = rng.random() < (0.65 if state.fair > mid else 0.35)
        side: BookSide = "ask" if yes_buy else "bid"
        book_side = yes.asks if yes_buy else yes.bids
        if not book_side:
            return ZERO
        best = min(book_side) if yes_buy else max(book_side)
        if amount is None:
            amount = _cents(book_side[best] * Decimal(rng.uniform(0.15, 1.6))) or book_side[best]
        # Report the trade in YES or NO terms (the NO view of a YES buy at p is a sell at 1-p).
        if taker is None:
            in_yes = rng.random() < 0.6
        else:
            in_yes = taker[1].token_id == market.token_ids[0]
        left = amount
        filled = ZERO
        fills: list[tuple[Decimal, Decimal]] = []
        for price in sorted(book_side, reverse=not yes_buy)[:3]:
            if left <= ZERO:
                break
            take = min(left, book_side[price])
            fills.append((price, take))
            left -= take
        for n, (price, take) in enumerate(fills):
            last = n == len(fills) - 1
            trade_id = self._uuid()
            token = market.token_ids[0] if in_yes else market.token_ids[1]
            trade_price = price if in_yes else ONE - price
            taker_side: TakerSide = (
                ("buy" if yes_buy else "sell") if in_yes else ("sell" if yes_buy else "buy")
            )
            yes.last_trade_price = price
            state.no.last_trade_price = ONE - price
            makers = self._consume_resting(state, side, price, take)
            maker_account = next((acc for acc, _, _ in makers), None)
            account = taker[0] if taker is not None else maker_account
            role: Role | None = (
                "taker" if taker is not None else ("maker" if maker_account is not None else None)
            )
            trade = TradeExecuted(
                self._now,
                market.condition_id,
                token,
                trade_price,
                take,
                taker_side,
                trade_id,
                account,
                last,
                role,
            )
            self.trades.append(trade)
            out.append(trade)
            levels: list[LevelSet] = []
            self._apply_yes(state, side, price, book_side[price] - take, levels)
            out.append(BookChanged(self._now, market.condition_id, tuple(levels)))
            for acc_name, rest, fill_size in makers:
                self._maker_fill(state, acc_name, rest, fill_size, trade, out)
            if taker is not None:
                self._taker_fill(state, taker, trade, take, makers, out)
            filled += take
        self._check_tick(state, out)
        return filled

    def _consume_resting(
        self, state: _MarketState, side: BookSide, price: Decimal, take: Decimal
    ) -> list[tuple[str, _Resting, Decimal]]:
        """Run ``take`` through a level's FIFO queue; return the account orders it filled."""
        queue = state.resting.get((side, price))
        if not queue:
            return []
        filled: list[tuple[str, _Resting, Decimal]] = []
        for r in queue:
            if take <= r.ahead:
                r.ahead -= take
                continue
            size = min(r.remaining, take - r.ahead)
            r.ahead = ZERO
            if size > ZERO:
                r.remaining -= size
                filled.append((r.account, r, size))
        state.resting[(side, price)] = [r for r in queue if r.remaining > ZERO]
        if not state.resting[(side, price)]:
            del state.resting[(side, price)]
        return filled

    # ------------------------------------------------------------------ accounts

    def _account_action(self, out: list[Change]) -> None:
        rng = self._rng
        if not self._focus:
            return
        account = self.accounts[rng.choice(ACCOUNTS)]
        state = self._state[rng.choice(self._focus)]
        open_orders = account.open_orders()
        roll = rng.random()
        if roll < 0.15:
            self._account_take(account, state, out)
        elif open_orders and (len(open_orders) >= self.config.max_open_orders or roll < 0.4):
            self._account_cancel(account, rng.choice(open_orders), out)
        else:
            self._account_place(account, state, out)

    def _account_token(self, account: Account, state: _MarketState) -> str:
        # The US venue trades one instrument per market, the YES side (protocol-us.md §11).
        if account.name == "us":
            return state.market.token_ids[0]
        return self._rng.choice(state.market.token_ids)

    def _account_place(self, account: Account, state: _MarketState, out: list[Change]) -> None:
        rng = self._rng
        market = state.market
        token = self._account_token(account, state)
        is_yes = token == market.token_ids[0]
        book = state.yes if is_yes else state.no
        held = account.positions.get(token, ZERO)
        committed = sum(
            (
                o.remaining
                for o in account.open_orders()
                if o.token_id == token and o.side == "sell"
            ),
            ZERO,
        )
        side: TakerSide = (
            "sell" if held - committed >= _MIN_ORDER_SIZE and rng.random() < 0.4 else "buy"
        )
        # Join the best price of the account's side so the flow reaches the order soon.
        price = book.best_bid() if side == "buy" else book.best_ask()
        if price is None:
            return
        if side == "sell":
            size = min(held - committed, Decimal(rng.randrange(5, 60)))
        else:
            size = Decimal(rng.randrange(5, 60))
            if account.balance < price * size:
                return
        yes_side: BookSide = (
            ("bid" if side == "buy" else "ask") if is_yes else ("ask" if side == "buy" else "bid")
        )
        yes_price = price if is_yes else ONE - price
        levels_book = state.yes.bids if yes_side == "bid" else state.yes.asks
        existing = levels_book.get(yes_price, ZERO)
        order = AccountOrder(
            order_id=self._new_id(256),
            account=account.name,
            condition_id=market.condition_id,
            token_id=token,
            side=side,
            price=price,
            original_size=size,
            size_matched=ZERO,
            status="live",
            order_type="GTC",
            created_ms=self._now,
            updated_ms=self._now,
        )
        account.orders[order.order_id] = order
        state.resting.setdefault((yes_side, yes_price), []).append(
            _Resting(order.order_id, account.name, existing, size)
        )
        levels: list[LevelSet] = []
        self._apply_yes(state, yes_side, yes_price, existing + size, levels)
        out.append(BookChanged(self._now, market.condition_id, tuple(levels)))
        out.append(OrderChanged(self._now, account.name, "placement", order))

    def _yes_level(self, state: _MarketState, order: AccountOrder) -> tuple[BookSide, Decimal]:
        if order.token_id == state.market.token_ids[0]:
            return ("bid" if order.side == "buy" else "ask"), order.price
        return ("ask" if order.side == "buy" else "bid"), ONE - order.price

    def _drop_resting(self, state: _MarketState, order: AccountOrder) -> list[LevelSet]:
        side, price = self._yes_level(state, order)
        queue = state.resting.get((side, price), [])
        mine = next((r for r in queue if r.order_id == order.order_id), None)
        levels: list[LevelSet] = []
        if mine is None:
            return levels
        for r in queue:
            if r.ahead > mine.ahead:
                r.ahead = max(ZERO, r.ahead - mine.remaining)
        queue.remove(mine)
        if not queue:
            state.resting.pop((side, price), None)
        book_side = state.yes.bids if side == "bid" else state.yes.asks
        self._apply_yes(state, side, price, book_side.get(price, ZERO) - mine.remaining, levels)
        return levels

    def _account_cancel(self, account: Account, order: AccountOrder, out: list[Change]) -> None:
        state = self._state[order.condition_id]
        self._emit_book(state, self._drop_resting(state, order), out)
        updated = replace(order, status="canceled", updated_ms=self._now)
        account.orders[order.order_id] = updated
        out.append(OrderChanged(self._now, account.name, "cancellation", updated))

    def _account_take(self, account: Account, state: _MarketState, out: list[Change]) -> None:
        rng = self._rng
        market = state.market
        token = self._account_token(account, state)
        is_yes = token == market.token_ids[0]
        book = state.yes if is_yes else state.no
        price = book.best_ask()
        size = Decimal(rng.randrange(5, 40))
        if price is None or account.balance < price * size:
            return
        order = AccountOrder(
            order_id=self._new_id(256),
            account=account.name,
            condition_id=market.condition_id,
            token_id=token,
            side="buy",
            price=price,
            original_size=size,
            size_matched=ZERO,
            status="live",
            order_type="FOK",
            created_ms=self._now,
            updated_ms=self._now,
        )
        account.orders[order.order_id] = order
        out.append(OrderChanged(self._now, account.name, "placement", order))
        # Buying YES lifts YES asks; buying NO hits YES bids (the mirror).
        self._flow_trade(
            state,
            out,
            taker=(account.name, order),
            yes_buy=is_yes,
            amount=min(
                size, (state.yes.asks if is_yes else state.yes.bids)[_best_yes(state, is_yes)]
            ),
        )
        final = account.orders[order.order_id]
        if final.status == "live":
            # FOK: whatever did not fill is cancelled at once.
            updated = replace(final, status="canceled", updated_ms=self._now)
            account.orders[order.order_id] = updated
            out.append(OrderChanged(self._now, account.name, "cancellation", updated))

    def _apply_fill_to_account(
        self,
        account: Account,
        order: AccountOrder,
        size: Decimal,
        price: Decimal,
        trade_id: str,
        out: list[Change],
        *,
        sign: int = 1,
        reason: str = "trade",
    ) -> None:
        """Move the account's position and cash for a fill (``sign=-1`` reverts it)."""
        signed = size if order.side == "buy" else -size
        signed *= sign
        before_pos = account.positions.get(order.token_id, ZERO)
        after_pos = before_pos + signed
        account.positions[order.token_id] = after_pos
        out.append(
            PositionChanged(
                self._now,
                account.name,
                order.condition_id,
                order.token_id,
                before_pos,
                after_pos,
                reason,
                trade_id,
            )
        )
        before_cash = account.balance
        account.balance = before_cash - signed * price
        out.append(
            BalanceChanged(self._now, account.name, before_cash, account.balance, reason, trade_id)
        )

    def _record_order_fill(
        self, account: Account, order_id: str, size: Decimal, trade_id: str, out: list[Change]
    ) -> AccountOrder:
        order = account.orders[order_id]
        matched = order.size_matched + size
        updated = replace(
            order,
            size_matched=matched,
            status="matched" if matched >= order.original_size else "live",
            updated_ms=self._now,
            associate_trades=(*order.associate_trades, trade_id),
        )
        account.orders[order_id] = updated
        out.append(OrderChanged(self._now, account.name, "update", updated))
        return updated

    def _maker_fill(
        self,
        state: _MarketState,
        account_name: str,
        rest: _Resting,
        size: Decimal,
        trade: TradeExecuted,
        out: list[Change],
    ) -> None:
        account = self.accounts[account_name]
        order = account.orders[rest.order_id]
        fill = AccountFill(
            trade_id=self._fill_id(account, trade.trade_id),
            account=account_name,
            order_id=order.order_id,
            taker_order_id=self._new_id(256),
            condition_id=order.condition_id,
            token_id=order.token_id,
            side=order.side,
            price=order.price,
            size=size,
            role="maker",
            status="MATCHED",
            match_ms=self._now,
            updated_ms=self._now,
        )
        self._add_fill(account, fill, out)
        updated = self._record_order_fill(account, order.order_id, size, fill.trade_id, out)
        self._apply_fill_to_account(account, updated, size, order.price, fill.trade_id, out)

    def _taker_fill(
        self,
        state: _MarketState,
        taker: tuple[str, AccountOrder],
        trade: TradeExecuted,
        size: Decimal,
        makers: list[tuple[str, _Resting, Decimal]],
        out: list[Change],
    ) -> None:
        account = self.accounts[taker[0]]
        order = account.orders[taker[1].order_id]
        price = trade.price if trade.token_id == order.token_id else ONE - trade.price
        counterparties: list[tuple[str, Decimal]] = [(r.order_id, s) for _, r, s in makers]
        rest = size - sum((s for _, _, s in makers), ZERO)
        if rest > ZERO:
            counterparties.append((self._new_id(256), rest))
        fill = AccountFill(
            trade_id=self._fill_id(account, trade.trade_id),
            account=account.name,
            order_id=order.order_id,
            taker_order_id=order.order_id,
            condition_id=order.condition_id,
            token_id=order.token_id,
            side=order.side,
            price=price,
            size=size,
            role="taker",
            status="MATCHED",
            match_ms=self._now,
            updated_ms=self._now,
            counterparties=tuple(counterparties),
        )
        self._add_fill(account, fill, out)
        updated = self._record_order_fill(account, order.order_id, size, fill.trade_id, out)
        self._apply_fill_to_account(account, updated, size, price, fill.trade_id, out)

    def _fill_id(self, account: Account, trade_id: str) -> str:
        """The market trade's id, or a fresh one when the account already has a fill under it.

        One taker order can match two resting orders of the same account at one level; each
        fill needs its own id (clients dedupe trade events by id and status).
        """
        return self._uuid() if trade_id in account.fills else trade_id

    def _add_fill(self, account: Account, fill: AccountFill, out: list[Change]) -> None:
        account.fills[fill.trade_id] = fill
        out.append(Fill(self._now, account.name, fill))
        self._schedule(account.name, fill.trade_id)

    @staticmethod
    def _trim_history(account: Account, limit: int) -> None:
        """Drop the oldest finished orders and settled fills down to 90% of ``limit``.

        Trimming a tenth below the limit makes the scan rare (once per ``limit / 10`` fills).
        A fill still settling may yet fail and then needs its order (``_run_settlements``), so
        such orders stay, like live ones.
        """
        keep = limit - limit // 10
        fills = account.fills
        if len(fills) > keep:
            settled = [trade_id for trade_id, fill in fills.items() if fill.status in _SETTLED][
                : len(fills) - keep
            ]
            for trade_id in settled:
                del fills[trade_id]
            account.evicted_fills += len(settled)
        orders = account.orders
        if len(orders) > keep:
            settling = {fill.order_id for fill in fills.values() if fill.status not in _SETTLED}
            finished = [
                order_id
                for order_id, order in orders.items()
                if order.status != "live" and order_id not in settling
            ][: len(orders) - keep]
            for order_id in finished:
                del orders[order_id]
            account.evicted_orders += len(finished)

    # ------------------------------------------------------------------ settlement

    def _schedule(self, account: str, trade_id: str) -> None:
        lo, hi = self.config.settle_delay_ms
        due = self._now + self._rng.randint(lo, hi)
        self._settle_seq += 1
        heapq.heappush(self._settle, (due, self._settle_seq, account, trade_id))

    def _run_settlements(self, now_ms: int, out: list[Change]) -> None:
        while self._settle and self._settle[0][0] <= now_ms:
            _, _, account_name, trade_id = heapq.heappop(self._settle)
            account = self.accounts[account_name]
            fill = account.fills[trade_id]
            status = self._next_status(fill.status)
            tx_hash = fill.transaction_hash
            if status == "MINED" and not tx_hash:
                tx_hash = self._new_id(256)
            updated = replace(fill, status=status, updated_ms=now_ms, transaction_hash=tx_hash)
            account.fills[trade_id] = updated
            out.append(FillUpdated(now_ms, account_name, updated))
            if status == "FAILED":
                order = account.orders[fill.order_id]
                self._apply_fill_to_account(
                    account,
                    order,
                    fill.size,
                    fill.price,
                    trade_id,
                    out,
                    sign=-1,
                    reason="trade_failed",
                )
            elif status != "CONFIRMED":
                self._schedule(account_name, trade_id)

    def _next_status(self, status: FillStatus) -> FillStatus:
        rng = self._rng
        if status == "MATCHED":
            return "RETRYING" if rng.random() < self.config.retry_rate else "MINED"
        if status == "RETRYING":
            return "FAILED" if rng.random() < self.config.fail_rate else "MINED"
        return "CONFIRMED"


def _floor(price: Decimal, tick: Decimal) -> Decimal:
    return (price / tick).to_integral_value(rounding=ROUND_FLOOR) * tick


def _ceil(price: Decimal, tick: Decimal) -> Decimal:
    return (price / tick).to_integral_value(rounding=ROUND_CEILING) * tick


def _cents(size: Decimal) -> Decimal:
    return size.quantize(_CENT, rounding=ROUND_FLOOR)


def _best_yes(state: _MarketState, lift_asks: bool) -> Decimal:
    side = state.yes.asks if lift_asks else state.yes.bids
    return min(side) if lift_asks else max(side)
