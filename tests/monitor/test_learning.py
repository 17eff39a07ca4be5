"""What the observations say about the registry (monitor/core/classify/learning.py), table-driven."""

from __future__ import annotations

import random
from dataclasses import replace

import pytest

from monitor.core.classify.learning import (
    Rate,
    RegistryFinding,
    RegistryKnowledge,
    apply_findings,
    effective_cameras,
    knowledge_from_json,
    knowledge_to_json,
    learn_rates,
    rate_findings,
)
from monitor.core.domain import Camera
from monitor.core.policy import ClassifierPolicy

P = ClassifierPolicy()


def cam(cid: str, fps: float, isp: str = "isp-a", area: str = "A01") -> Camera:
    return Camera(camera_id=cid, area=area, isp=isp, line_id=f"{area}-{cid}", expected_fps=fps)


def clean(cid: str, fps: float) -> tuple:
    return (cid, True, 12.0, True, fps, 0.15)


def congested(cid: str, fps: float) -> tuple:
    return (cid, True, 300.0, True, fps, 9.0)


def run(cameras: dict[str, Camera], rounds) -> tuple[RegistryKnowledge, list[RegistryFinding]]:
    k, found = RegistryKnowledge(), []
    for samples in rounds:
        rates, due = learn_rates(k.rates, samples, P)
        k = replace(k, rates=rates)
        f = rate_findings(k, cameras, due, P)
        k = apply_findings(k, f, cameras)
        found += f
    return k, found


@pytest.mark.parametrize(("registry_fps", "real_fps", "finding"), [
    (20, 10, 10.0),   # set to 10 on the camera: a finding, and the camera is judged at 10 from then on
    (12, 15, 15.0),   # a higher rate than written is a mistake too
    (8, 10, 10.0),
    (15, 15, None),   # right: nothing
    (15, 14, None),   # within the tolerance: nothing
])
def test_a_steady_rate_other_than_the_registry_is_a_finding(registry_fps, real_fps, finding):
    rng = random.Random(3)
    cams = {"C1": cam("C1", registry_fps)}
    k, found = run(cams, ([clean("C1", real_fps * rng.uniform(0.96, 1.0))] for _ in range(180)))
    if finding is None:
        assert found == [] and "C1" not in k.moved
    else:
        assert [(f.field, f.registry, f.observed) for f in found] == [("expected_fps", registry_fps, finding)]
        assert effective_cameras(cams, k.moved)["C1"].expected_fps == finding


def test_evening_congestion_does_not_pull_the_learned_rate_down():
    rng = random.Random(5)
    rounds = []
    for minute in range(24 * 60):
        evening = 18 * 60 <= minute < 23 * 60
        fps = 15 * rng.uniform(0.96, 1.0) if not evening else 15 * rng.uniform(0.05, 0.5)
        # a mild congestion can look clean (short gaps, RTT under the threshold) now and then
        rounds.append([clean("C1", fps) if not evening or rng.random() < 0.4 else congested("C1", fps)])
    k, found = run({"C1": cam("C1", 15)}, rounds)
    assert found == []
    assert 14.0 <= k.rates["C1"].estimate <= 15.2


def test_no_finding_before_enough_clean_intervals_and_none_from_unclean_ones():
    cams = {"C1": cam("C1", 20)}
    _, found = run(cams, ([clean("C1", 10.0)] for _ in range(P.fps_learn_min_intervals - 1)))
    assert found == []
    _, found = run(cams, ([congested("C1", 10.0)] for _ in range(500)))
    assert found == []


def test_a_finding_is_withdrawn_when_the_camera_is_set_back():
    cams = {"C1": cam("C1", 20)}
    k, found = run(cams, [[clean("C1", 10.0)]] * 120 + [[clean("C1", 20.0)]] * 600)
    assert [f.observed for f in found] == [10.0, 20]
    assert k.moved == {}


def test_knowledge_survives_the_checkpoint():
    k = RegistryKnowledge(rates={"C1": Rate(9.9, 70)}, moved={"C1": {"expected_fps": 10.0, "isp": "isp-b"}})
    assert knowledge_from_json(knowledge_to_json(k)) == k
    assert knowledge_from_json(None) == RegistryKnowledge()


def test_effective_cameras_take_what_the_evidence_showed():
    cams = {"C1": cam("C1", 20, isp="isp-a", area="A01"), "C2": cam("C2", 15)}
    eff = effective_cameras(cams, {"C1": {"isp": "isp-b", "area": "A02"}})
    assert (eff["C1"].isp, eff["C1"].area, eff["C1"].expected_fps) == ("isp-b", "A02", 20)
    assert eff["C2"] is cams["C2"]


@pytest.mark.parametrize("first_fps", [2.6, 6.0, 14.9])
def test_one_odd_first_sample_does_not_hold_the_learned_rate_down(first_fps):
    """A replay or a start that begins with one slow but clean-looking interval (2.6 fps from a 15 fps
    camera): the estimate takes the camera's higher rates at once while warming up, so no false finding."""
    rng = random.Random(9)
    rounds = [[clean("C1", first_fps)]] + [[clean("C1", 15 * rng.uniform(0.96, 1.0))] for _ in range(300)]
    k, found = run({"C1": cam("C1", 15)}, rounds)
    assert found == []
    assert 14.0 <= k.rates["C1"].estimate <= 15.2
