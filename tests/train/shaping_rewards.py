"""Reward functions loaded by the TRL worker in the slow tests (via TrlSettings.extra_rewards).

ToolMatch gives a random tiny model all-zero rewards, so GRPO's group advantage is zero and the
weights cannot move (notes/cpu_rl.md §2). `length_reward` has spread within every group, so a
test can show that gradients flow end to end. `crash_reward` makes the trainer die at a chosen
reward call, to test the failure report and the resume.
"""

from __future__ import annotations

import os

_calls = 0


def length_reward(prompts, completions, **kwargs):
    """Shorter completions score higher: differs between samples of a group, so advantages are non-zero."""
    return [-len(c[0]["content"]) / 100.0 for c in completions]


def crash_reward(prompts, completions, **kwargs):
    """Zero reward; raises on the call number given in LOOPTOOL_TEST_CRASH_AT (1-based), if set."""
    global _calls
    _calls += 1
    crash_at = int(os.environ.get("LOOPTOOL_TEST_CRASH_AT", "0"))
    if crash_at and _calls == crash_at:
        raise RuntimeError(f"test crash at reward call {_calls}")
    return [0.0 for _ in completions]
