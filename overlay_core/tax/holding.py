"""Holding periods and the short/long-term split (IRC §1222, §1223; Publication 550, "Holding Period").

Conventions (pinned by issue 3, see docs/tax.md):

- The holding period starts the day **after** the acquisition (trade dates, not settlement dates).
- A sale is long-term only if the shares were held **more than one year**: on or after the first
  anniversary of the day after acquisition. Exactly one year is short-term.
- The anniversary of a Feb 29 is Mar 1 of the following year.

So bought 2008-02-05 -> long-term from 2009-02-06; bought 2016-02-28 (day after = Feb 29) -> long-term
from 2017-03-01.

Both a scalar API (`long_term_date`, `term_at`, `days_to_long_term`) and a vectorized one over numpy
``datetime64[D]`` arrays (`long_term_dates`, `is_long_term`) are given; they agree by construction and
by test.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

import numpy as np

Term = Literal["short", "long"]

_ONE_DAY = dt.timedelta(days=1)
_NAT = np.datetime64("NaT", "D")


def long_term_date(acquired: dt.date) -> dt.date:
    """The first date on which a sale of shares acquired on `acquired` is long-term.

    The first anniversary of the day after acquisition; an anniversary falling on a Feb 29 that does
    not exist is Mar 1.

    >>> long_term_date(dt.date(2008, 2, 5))
    datetime.date(2009, 2, 6)
    >>> long_term_date(dt.date(2016, 2, 28))
    datetime.date(2017, 3, 1)
    """
    start = acquired + _ONE_DAY
    try:
        return start.replace(year=start.year + 1)
    except ValueError:  # Feb 29 -> the next year has none: Mar 1
        return dt.date(start.year + 1, 3, 1)


def term_at(acquired: dt.date, on: dt.date) -> Term:
    """``"long"`` if shares acquired on `acquired` and sold on `on` are held more than one year."""
    return "long" if on >= long_term_date(acquired) else "short"


def days_to_long_term(acquired: dt.date, on: dt.date) -> int:
    """Calendar days from `on` until the sale becomes long-term (0 if it already is)."""
    return max(0, (long_term_date(acquired) - on).days)


def long_term_dates(acquired: np.ndarray) -> np.ndarray:
    """Vectorized `long_term_date`.

    Parameters
    ----------
    acquired : array of shape (n,), ``datetime64[D]`` (NaT allowed: gives NaT).

    Returns
    -------
    array of shape (n,), ``datetime64[D]``.

    Notes
    -----
    The day after acquisition is split into (month, day of month); the result is the first day of the
    same month one year later plus (day of month - 1) days. For every day but Feb 29 this is the same
    calendar date a year later; for Feb 29 it overflows the 28-day February into Mar 1, exactly the
    pinned convention.
    """
    a = np.asarray(acquired, dtype="datetime64[D]")
    start = a + np.timedelta64(1, "D")
    month = start.astype("datetime64[M]")
    day_offset = (start - month.astype("datetime64[D]")).astype(np.int64)
    out = (month + np.timedelta64(12, "M")).astype("datetime64[D]") + day_offset.astype("timedelta64[D]")
    return np.where(np.isnat(a), _NAT, out)


def is_long_term(acquired: np.ndarray, on: dt.date | np.datetime64) -> np.ndarray:
    """Vectorized `term_at(...) == "long"`: bool array of shape (n,); False where `acquired` is NaT."""
    ltd = long_term_dates(acquired)
    on64 = np.datetime64(on, "D")
    return ~np.isnat(ltd) & (ltd <= on64)


def days_to_long_term_array(acquired: np.ndarray, on: dt.date | np.datetime64) -> np.ndarray:
    """Vectorized `days_to_long_term`: int64 array of shape (n,); -1 where `acquired` is NaT (unknown)."""
    ltd = long_term_dates(acquired)
    on64 = np.datetime64(on, "D")
    nat = np.isnat(ltd)
    days = np.where(nat, 0, (ltd - on64).astype("timedelta64[D]").astype(np.int64) if len(ltd) else np.zeros(0, np.int64))
    days = np.maximum(days, 0)
    return np.where(nat, -1, days).astype(np.int64)
