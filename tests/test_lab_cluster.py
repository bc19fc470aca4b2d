"""Distributed lab runs: a local two-worker Dask cluster gives exactly the in-process answer, survives a worker
killed mid-task, and keeps partial results in a checkpoint."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd
import pytest

from ramparts.errors import InvalidInput
from ramparts.lab.calibrate import ParameterGrid, Scenarios, evaluate_task, run_calibration
from ramparts.lab.cluster import TaskRunner, parse_cluster, run_tasks
from ramparts.lab.population import PopulationSpec
from ramparts.lab.stress import FittedModels, StressSpec, run_stress, run_task

distributed = pytest.importorskip("distributed")

FITS = FittedModels(
    garch={"mu": 0.0, "omega": 4.2e-07, "alpha": 0.063, "beta": 0.932, "nu": 3.24},
    gpd={"xi": 0.22, "scale": 0.0079, "threshold": 0.0126, "n_exceed": 2274, "n_obs": 45471},
    sigma_hourly=0.0092, correlation=0.8, eth_vol_ratio=1.22, btc_price=20_000.0, eth_price=1_400.0, observations=45472,
)


@pytest.fixture(scope="module")
def scheduler():
    """One local two-worker cluster (processes) shared by the tests that pass its address."""
    from distributed import LocalCluster

    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None, silence_logs=40)
    yield cluster.scheduler_address
    cluster.close()


@pytest.mark.parametrize(
    "spec, parsed",
    [("", ("inprocess", None)), (None, ("inprocess", None)), ("local:2", ("local", 2)), ("tcp://10.0.0.1:8786", ("address", "tcp://10.0.0.1:8786"))],
)
def test_parse_cluster(spec, parsed):
    assert parse_cluster(spec) == parsed


@pytest.mark.parametrize("spec", ["local:0", "local:x", "ray://head:10001", "http://x", "local:999"])
def test_parse_cluster_rejects(spec):
    with pytest.raises(InvalidInput, match="cluster"):
        parse_cluster(spec)


def test_a_calibration_sweep_on_a_local_two_worker_cluster_equals_the_in_process_sweep():
    grid = ParameterGrid(margin_scale=(0.5, 2.0), max_fraction=(0.2, 1.0))
    scen = Scenarios(events=(), stress=StressSpec(scenario="jump", n_paths=3, n_steps=30, jump_per_day=24.0))
    pop = PopulationSpec(n_accounts=120)
    local = run_calibration(grid, scen, population=pop, fits=FITS)
    seen = []
    remote = run_calibration(grid, scen, population=pop, fits=FITS,
                             runner=TaskRunner(evaluate_task, "local:2", progress=lambda k, n: seen.append((k, n))))
    pd.testing.assert_frame_equal(local.runs, remote.runs)
    pd.testing.assert_frame_equal(local.frontier, remote.frontier)
    assert seen[-1] == (12, 12) and [k for k, _ in seen] == sorted(k for k, _ in seen)


def test_a_stress_run_through_a_scheduler_address_equals_the_in_process_run(scheduler):
    spec = StressSpec(scenario="gpd", n_paths=4, n_steps=30)
    pop = PopulationSpec(n_accounts=120)
    local = run_stress(spec, population=pop, fits=FITS)
    remote = run_stress(spec, population=pop, fits=FITS, runner=TaskRunner(run_task, scheduler))
    pd.testing.assert_frame_equal(local.table, remote.table)
    assert local.summary == remote.summary


def _dies_once(task):
    """Kills its worker process the first time it sees task 2 (a marker file remembers)."""
    i, marker = task
    if i == 2 and not Path(marker).exists():
        Path(marker).write_text("died")
        os._exit(1)
    return {"i": i, "square": i * i}


def test_a_killed_worker_s_task_is_rerun_elsewhere(scheduler, tmp_path):
    marker = tmp_path / "marker"
    rows = run_tasks(_dies_once, [(i, str(marker)) for i in range(6)], scheduler, retries=3)
    assert marker.read_text() == "died"
    assert rows == [{"i": i, "square": i * i} for i in range(6)]


def _fails_on_three(task):
    i, calls = task
    Path(calls, f"{i}-{len(os.listdir(calls))}").write_text("")
    if i == 3 and not Path(calls, "fixed").exists():
        raise RuntimeError("task 3 fails")
    return {"i": i, "value": i / 7}


def test_partial_results_are_checkpointed_and_a_rerun_resumes(tmp_path):
    calls = tmp_path / "calls"
    calls.mkdir()
    ck = tmp_path / "run.jsonl"
    tasks = [(i, str(calls)) for i in range(6)]
    with pytest.raises(RuntimeError):
        run_tasks(_fails_on_three, tasks, checkpoint=ck, retries=1)
    done = [json.loads(line)["task"] for line in ck.read_text().splitlines()]
    assert done == [0, 1, 2]
    assert sum(1 for f in os.listdir(calls) if f.startswith("3-")) == 2  # tried, then retried once
    (calls / "fixed").write_text("")
    before = set(os.listdir(calls))
    rows = run_tasks(_fails_on_three, tasks, checkpoint=ck)
    assert rows == [{"i": i, "value": i / 7} for i in range(6)]
    new = {f.split("-")[0] for f in set(os.listdir(calls)) - before}
    assert new == {"3", "4", "5"}  # the finished tasks were not run again
    # a torn last line (a run killed while writing) is ignored; a corrupt line in the middle is an error
    with ck.open("a") as fh:
        fh.write('{"task": 5, "ro')
    assert run_tasks(_fails_on_three, tasks, checkpoint=ck) == rows
    assert ck.read_text().endswith("}\n") and len(ck.read_text().splitlines()) == 6  # the torn line is gone
    ck.write_text('{"task": 0, "row": {"i": 0, "value": 0.0}}\nnot json\n')
    with pytest.raises(InvalidInput, match="checkpoint"):
        run_tasks(_fails_on_three, tasks, checkpoint=ck)
    ck.write_text('{"task": 40, "row": {}}\n')
    with pytest.raises(InvalidInput, match="another run"):
        run_tasks(_fails_on_three, tasks, checkpoint=ck)
