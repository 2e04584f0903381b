from __future__ import annotations

import pytest

from overlay_core.policy import DEFAULT_POLICY, RiskPolicy, parse_policy, policy_to_toml


def test_risk_section_defaults_and_values() -> None:
    assert DEFAULT_POLICY.risk == RiskPolicy(lookback_days=504, n_factors=8, min_history_days=126, specific_var_floor=0.0001)
    pol, problems = parse_policy("[risk]\nlookback_days = 252\nn_factors = 5\n")
    assert problems == []
    assert pol.risk.lookback_days == 252 and pol.risk.n_factors == 5 and pol.risk.min_history_days == 126


@pytest.mark.parametrize(
    "text, match",
    [
        ("[risk]\nn_factors = 2.5\n", "a whole number >= 0"),
        ("[risk]\nspecific_var_floor = -1\n", "a finite number >= 0"),
        ("[risk]\nhalf_life = 3\n", "one of the keys of \\[risk\\]"),
    ],
)
def test_bad_risk_keys_are_problems(text: str, match: str) -> None:
    _, problems = parse_policy(text)
    assert len(problems) == 1
    assert pytest.importorskip("re").search(match, str(problems[0]))


def test_risk_section_round_trips() -> None:
    pol, _ = parse_policy("[risk]\nn_factors = 3\n[targets.T1.ranges]\nus_equity = [0.2, 0.6]\n")
    text = policy_to_toml(pol)
    assert "[risk]" in text
    again, problems = parse_policy(text)
    assert problems == [] and again == pol


def test_every_policy_key_is_documented() -> None:
    from dataclasses import fields
    from pathlib import Path

    from overlay_core.policy import _SECTIONS

    doc = (Path(__file__).resolve().parents[2] / "docs" / "policy.md").read_text()
    assert {"validation", "rebalance", "drift", "data_check", "risk"} <= set(_SECTIONS)
    for sec in _SECTIONS:
        assert f"`[{sec}]`" in doc
        for f in fields(getattr(DEFAULT_POLICY, sec)):
            assert f"| `{f.name}` |" in doc, f"{sec}.{f.name} is not documented in docs/policy.md"
