"""Dagster's side of `sluice-bench assets`: the same asset graph (COUNT assets in GROUPS
groups; within a group each asset reads the one before it, each group's first asset
depends on the previous group's first; every other asset tagged tier=gold and one asset
job over that tag), timed as definition load (building the definitions and resolving the
repository with its asset jobs) and snapshot (the repository data a code server sends).

Usage: python assets_load.py COUNT GROUPS REPEAT
"""

import statistics
import sys
import time

import dagster as dg


def key_of(i, groups):
    return dg.AssetKey([f"group_{i % groups:03}", f"asset_{i:05}"])


def build(count, groups):
    assets = []
    for i in range(count):
        kwargs = {
            "key": key_of(i, groups),
            "group_name": f"group_{i % groups:03}",
            "description": "A benchmark asset.",
            "tags": {"tier": "gold" if i % 2 == 0 else "silver"},
        }
        if i >= groups:
            kwargs["ins"] = {"upstream": dg.AssetIn(key=key_of(i - groups, groups))}

            def compute(upstream):
                return 1
        else:
            if i > 0:
                kwargs["deps"] = [key_of(i - 1, groups)]

            def compute():
                return 1

        assets.append(dg.asset(**kwargs)(compute))
    gold = dg.define_asset_job("gold", selection=dg.AssetSelection.tag("tier", "gold"))
    defs = dg.Definitions(assets=assets, jobs=[gold])
    return defs.get_repository_def()


def snapshot(repo):
    from dagster._core.remote_representation.external_data import RepositorySnap

    return RepositorySnap.from_def(repo)


def main():
    count, groups, repeat = (int(a) for a in sys.argv[1:4])
    load, snap = [], []
    for _ in range(repeat):
        t = time.perf_counter()
        repo = build(count, groups)
        # Resolving the jobs is part of loading; Dagster does it lazily.
        repo.get_all_jobs()
        load.append((time.perf_counter() - t) * 1000)
        t = time.perf_counter()
        snapshot(repo)
        snap.append((time.perf_counter() - t) * 1000)
    load_ms, snap_ms = statistics.median(load), statistics.median(snap)
    print(
        f"dagster {dg.__version__}: definition load {load_ms:.1f} ms + snapshot {snap_ms:.1f} ms"
        f" = {load_ms + snap_ms:.1f} ms (median of {repeat})"
    )


if __name__ == "__main__":
    main()
