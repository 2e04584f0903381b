"""NYSE business days, from the maintained `exchange_calendars` library (calendar XNYS).

The trade date is the next NYSE business day after `as_of` unless the caller gives one.
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache

import exchange_calendars as xc
import pandas as pd

_START = "1985-01-02"


@lru_cache(maxsize=1)
def _nyse() -> xc.ExchangeCalendar:
    return xc.get_calendar("XNYS", start=_START)


def is_business_day(day: dt.date) -> bool:
    return bool(_nyse().is_session(pd.Timestamp(day)))


def next_business_day(day: dt.date) -> dt.date:
    """The first NYSE session strictly after `day`."""
    cal = _nyse()
    ts = pd.Timestamp(day)
    if ts < cal.first_session or ts >= cal.last_session:
        raise ValueError(f"{day} is outside the NYSE calendar's range ({cal.first_session.date()} .. {cal.last_session.date()})")
    return cal.date_to_session(ts + pd.Timedelta(days=1), direction="next").date()


def previous_business_day(day: dt.date) -> dt.date:
    """The last NYSE session strictly before `day`."""
    cal = _nyse()
    return cal.date_to_session(pd.Timestamp(day) - pd.Timedelta(days=1), direction="previous").date()


def business_days(start: dt.date, end: dt.date) -> list[dt.date]:
    """NYSE sessions in [start, end]."""
    return [ts.date() for ts in _nyse().sessions_in_range(pd.Timestamp(start), pd.Timestamp(end))]


def add_business_days(day: dt.date, n: int) -> dt.date:
    out = day
    for _ in range(n):
        out = next_business_day(out)
    return out
