"""atlas.cores: threads for parallel stages, from the cores that are idle."""

from __future__ import annotations

import pytest

from atlas import cores


@pytest.mark.parametrize(
    ("idle", "limit", "expected"),
    [
        (None, None, 4),  # idle time unknown: every allowed core
        (0.0, None, 1),  # all cores busy: one thread, never zero
        (0.7, None, 1),  # less than one free core
        (1.3, None, 2),  # a core and a third free: two
        (4.0, None, 4),
        (9.0, None, 4),  # never more than the allowed cores
        (4.0, 2, 2),
        (0.0, 0, 1),
    ],
)
def test_threads_follow_the_idle_cores(monkeypatch, idle, limit, expected):
    monkeypatch.setattr(cores, "allowed_cores", lambda: [0, 1, 2, 3])
    monkeypatch.setattr(cores, "idle_cores", lambda sample_seconds=0.1: idle)
    assert cores.threads_for_now(limit) == expected


def test_idle_cores_reads_the_allowed_cpus(monkeypatch, tmp_path):
    stat = tmp_path / "stat"
    samples = iter(
        [
            # cpu0 and cpu1 are ours; cpu2 is not and is fully idle
            "cpu  0 0 0 0 0 0 0 0\ncpu0 100 0 0 100 0 0 0 0\ncpu1 100 0 0 100 0 0 0 0\ncpu2 0 0 0 500 0 0 0 0\n",
            # over the sample: cpu0 busy 100 of 100 jiffies, cpu1 idle 50 and busy 50
            "cpu  0 0 0 0 0 0 0 0\ncpu0 200 0 0 100 0 0 0 0\ncpu1 150 0 0 150 0 0 0 0\ncpu2 0 0 0 700 0 0 0 0\n",
        ]
    )
    real_open = open

    def fake_open(path, *args, **kwargs):
        if path == "/proc/stat":
            stat.write_text(next(samples))
            return real_open(stat, *args, **kwargs)
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(cores, "allowed_cores", lambda: [0, 1])
    monkeypatch.setattr("builtins.open", fake_open)
    assert cores.idle_cores(sample_seconds=0) == pytest.approx(0.5)  # 2 cores × 50 idle of 200


def test_threads_for_now_on_this_machine_is_within_the_allowed_cores():
    n = cores.threads_for_now()
    assert 1 <= n <= len(cores.allowed_cores())
