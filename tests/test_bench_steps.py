"""`latentscenes bench steps`: each phase of each run's own recipe timed in probes of its own."""

import json
import statistics

import yaml

from latentscenes.cli.main import main


def test_every_phase_of_every_run_is_timed_in_a_probe_that_trains_only_it(tiny_runs, tmp_path):
    out = tmp_path / "steps"
    latent, rgb = tiny_runs / "latent", tiny_runs / "rgb"
    args = ["bench", "steps", str(latent), str(rgb), "--steps", "2", "--skip", "1", "--rounds", "2", "--out", str(out)]
    assert main(args) == 0
    result = json.loads((out / "steps.json").read_text())
    assert (result["rounds"], result["steps"], result["skip"]) == (2, 2, 1)
    runs = result["runs"]
    assert set(runs) == {str(latent.resolve()), str(rgb.resolve())}
    assert runs[str(latent.resolve())]["kind"] == "fit-latent" and runs[str(rgb.resolve())]["kind"] == "fit-rgb"
    assert set(runs[str(latent.resolve())]["phases"]) == {"encode", "decode"}
    assert set(runs[str(rgb.resolve())]["phases"]) == {"fit"}
    for entry in runs.values():
        for phase in entry["phases"].values():
            assert len(phase["rounds"]) == 2 and all(value > 0 for value in phase["rounds"])
            assert phase["seconds_per_step"] == statistics.median(phase["rounds"])
    # the probe of the decode phase trained 3 decode steps and no encode step, from the same
    # stage-1 run and data as the run itself (absolute paths: the probe lives elsewhere)
    probe = out / "round1" / "latent-decode"
    config = yaml.safe_load((probe / "config.yaml").read_text())
    original = yaml.safe_load((latent / "config.yaml").read_text())
    assert config["encode"]["steps"] == 0 and config["decode"]["steps"] == 3
    assert config["decode"]["views_per_scene"] == original["decode"]["views_per_scene"]
    assert config["stage1"] == str((tiny_runs / "stage1").resolve())
    assert config["data"]["start"] == original["data"]["start"] and config["data"]["count"] == original["data"]["count"]
    steps = [json.loads(line)["step"] for line in (probe / "logs" / "metrics.jsonl").read_text().splitlines()]
    assert max(steps) == 3


def test_a_run_that_is_not_a_fit_run_is_refused(tiny_runs, tmp_path, capsys):
    assert main(["bench", "steps", str(tiny_runs / "stage1"), "--out", str(tmp_path / "s")]) != 0
    assert "'train' run" in capsys.readouterr().err
