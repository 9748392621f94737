"""The checks of candidate vs champion on one step's evidence, each a verdict with every
number behind it. Pure functions on plain data; no I/O.

Every test is one-sided (only a worse candidate matters). A check **fails** only when the
data show, at ``alpha``, that the candidate is worse *by more than the spec allows*; it is
**marginal** when the point estimate is beyond the limit without that confidence, or when
the candidate is surely worse but within the limit; else it **passes**. Too little data is
**inconclusive**, never a pass. Testing against the limit, not against "no difference",
keeps an equal candidate from being rolled back by chance at every step of a long plan.

=================  ==============================================  ============================
check              fails when, at alpha                            marginal also when
=================  ==============================================  ============================
error_rate         rate increase > limit (Agresti–Caffo z)         two-proportion z-test
latency            p99 ratio > limit (order-statistic bounds)      Mann–Whitney U
agreement          Wilson upper bound < min_agreement              agreement < min_agreement
prediction_shift   PSI > limit and chi-square significant          either of the two
online_accuracy    drop > limit (Agresti–Caffo z; regression:      z-test / Mann–Whitney U
                   Welch z on squared errors vs (1 + limit)²)      on absolute errors
input_drift        a feature's PSI > limit and its BH-corrected    either of the two
                   chi-square significant
=================  ==============================================  ============================

PSI and the chi-square use the monitoring's statistics (sparse bins pooled, half-count
smoothing) on the champion's classes or deciles, so a rollout and a drift report agree.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from conveyor.rollout.stats import (
    floats,
    labels,
    margin_test,
    mean_margin_test,
    quantile_bounds,
    ratio,
    shift,
    two_proportion,
    wilson_upper,
)
from conveyor.rollout.verdicts import CheckResult, Verdict

if TYPE_CHECKING:
    from conveyor.rollout.evidence import ArmEvidence, Pairs, TaskName
    from conveyor.spec.models import AnalysisSpec

_SEVERITY = [Verdict.PASS, Verdict.MARGINAL, Verdict.FAIL]
_INPUT_SEVERITY = [Verdict.PASS, Verdict.MARGINAL, Verdict.INCONCLUSIVE]
INPUT_DRIFT_ALPHA_SHARE = 0.02  # input_drift's significance level: this share of spec.alpha


def _grade(confident: bool, beyond: bool, worse: bool = False) -> Verdict:
    """Fail when surely beyond the limit; marginal when beyond it by the point estimate only,
    or surely worse but within it; pass otherwise."""
    if confident:
        return Verdict.FAIL
    return Verdict.MARGINAL if beyond or worse else Verdict.PASS


def _too_few(what: str, champion: int, candidate: int, minimum: int) -> str:
    if min(champion, candidate) >= minimum:
        return ""
    if champion == candidate:
        return f"{champion} {what} on each arm, fewer than {minimum}"
    arm, n = ("champion", champion) if champion < candidate else ("candidate", candidate)
    return f"{n} {what} on the {arm}, fewer than {minimum}"


def error_rate(champion: ArmEvidence, candidate: ArmEvidence, spec: AnalysisSpec) -> CheckResult:
    limit = spec.max_error_rate_increase
    numbers: dict[str, Any] = {
        "champion_requests": champion.requests,
        "candidate_requests": candidate.requests,
        "champion_errors": champion.errors,
        "candidate_errors": candidate.errors,
        "champion_shed": champion.shed,
        "candidate_shed": candidate.shed,
        "max_increase": limit,
    }
    short = _too_few("requests", champion.requests, candidate.requests, spec.min_requests)
    if short:
        return CheckResult("error_rate", Verdict.INCONCLUSIVE, numbers, short)
    rate_b = champion.errors / champion.requests
    rate_c = candidate.errors / candidate.requests
    counts = (candidate.errors, candidate.requests, champion.errors, champion.requests)
    z, p = two_proportion(*counts)
    p_limit = margin_test(*counts, limit)
    increase = rate_c - rate_b
    numbers |= {
        "champion_rate": rate_b,
        "candidate_rate": rate_c,
        "increase": increase,
        "z": z,
        "p_value": p,
        "p_beyond_limit": p_limit,
    }
    verdict = _grade(p_limit < spec.alpha, increase > limit, p < spec.alpha)
    reason = (
        f"error rate {rate_c:.2%} vs {rate_b:.2%} ({increase:+.2%}, limit +{limit:.2%}; "
        f"p beyond the limit {p_limit:.3g})"
    )
    return CheckResult("error_rate", verdict, numbers, reason)


def latency(champion: ArmEvidence, candidate: ArmEvidence, spec: AnalysisSpec) -> CheckResult:
    import numpy as np
    from scipy import stats

    limit = spec.max_latency_p99_ratio
    lat_b = np.asarray(champion.latencies_ms, dtype=float)
    lat_c = np.asarray(candidate.latencies_ms, dtype=float)
    numbers: dict[str, Any] = {
        "champion_samples": int(lat_b.size),
        "candidate_samples": int(lat_c.size),
        "max_p99_ratio": limit,
    }
    short = _too_few("latency samples", lat_b.size, lat_c.size, spec.min_requests)
    if short:
        return CheckResult("latency", Verdict.INCONCLUSIVE, numbers, short)
    p50_b, p99_b = (float(v) for v in np.percentile(lat_b, [50, 99]))
    p50_c, p99_c = (float(v) for v in np.percentile(lat_c, [50, 99]))
    p99_ratio = ratio(p99_c, p99_b)
    # the candidate's p99 is surely above limit x the champion's when the lower bound of the
    # one exceeds limit x the upper bound of the other (each bound at alpha / 2)
    cand_low, _ = quantile_bounds(lat_c, 0.99, spec.alpha / 2)
    _, champ_high = quantile_bounds(lat_b, 0.99, spec.alpha / 2)
    test = stats.mannwhitneyu(lat_c, lat_b, alternative="greater")
    p = float(test.pvalue)
    numbers |= {
        "champion_p50_ms": p50_b,
        "candidate_p50_ms": p50_c,
        "champion_p99_ms": p99_b,
        "candidate_p99_ms": p99_c,
        "p99_ratio": p99_ratio,
        "candidate_p99_lower_ms": cand_low,
        "champion_p99_upper_ms": champ_high,
        "u": float(test.statistic),
        "p_value": p,
    }
    surely, beyond, higher = cand_low > limit * champ_high, p99_ratio > limit, p < spec.alpha
    verdict = _grade(surely, beyond, higher)
    if surely:
        decided = f"p99 surely above {limit:g}x the champion's (bounds)"
    elif beyond:
        decided = f"p99 ratio above {limit:g} by the point estimate, not surely (bounds)"
    elif higher:
        decided = "latencies higher overall (Mann-Whitney), p99 within the limit"
    else:
        decided = "p99 within the limit"
    reason = (
        f"{decided}: p99 {p99_c:.1f} ms vs {p99_b:.1f} ms (ratio {p99_ratio:.2f}, limit "
        f"{limit:g}; bounds {cand_low:.1f} vs {limit:g} x {champ_high:.1f} ms); Mann-Whitney "
        f"p={p:.3g} (candidate p50 {p50_c:.1f} vs {p50_b:.1f} ms)"
    )
    return CheckResult("latency", verdict, numbers, reason)


def agreement(pairs: Pairs, task: TaskName, spec: AnalysisSpec) -> CheckResult:
    import numpy as np
    from scipy import stats

    n = len(pairs)
    minimum = spec.min_agreement
    numbers: dict[str, Any] = {"pairs": n, "min_agreement": minimum}
    if n < spec.min_pairs:
        reason = f"{n} paired requests, fewer than {spec.min_pairs}"
        return CheckResult("agreement", Verdict.INCONCLUSIVE, numbers, reason)
    if task == "classification":
        agree = labels(pairs.champion) == labels(pairs.candidate)
    else:
        champ = np.asarray(pairs.champion, dtype=float)
        cand = np.asarray(pairs.candidate, dtype=float)
        scale = float(np.std(champ)) or float(np.mean(np.abs(champ))) or 1.0
        tolerance = spec.agreement_tolerance * scale
        agree = np.abs(champ - cand) <= tolerance
        numbers["tolerance"] = tolerance
    k = int(np.count_nonzero(agree))
    rate = k / n
    upper = wilson_upper(k, n, float(stats.norm.isf(spec.alpha)))
    numbers |= {"agreeing": k, "agreement": rate, "upper_bound": upper}
    verdict = _grade(upper < minimum, rate < minimum)
    reason = (
        f"{rate:.1%} of {n} paired predictions agree (min {minimum:.0%}; upper bound {upper:.1%})"
    )
    return CheckResult("agreement", verdict, numbers, reason)


def prediction_shift(
    champion: ArmEvidence, candidate: ArmEvidence, task: TaskName, spec: AnalysisSpec
) -> CheckResult:
    limit = spec.max_prediction_psi
    rows_b, rows_c = len(champion.predictions), len(candidate.predictions)
    numbers: dict[str, Any] = {"champion_rows": rows_b, "candidate_rows": rows_c, "max_psi": limit}
    short = _too_few("predictions", rows_b, rows_c, spec.min_requests)
    if short:
        return CheckResult("prediction_shift", Verdict.INCONCLUSIVE, numbers, short)
    categorical = task == "classification"
    psi, p = shift(champion.predictions, candidate.predictions, categorical)
    numbers |= {"psi": psi, "p_value": p}
    verdict = _grade(p < spec.alpha and psi > limit, psi > limit, p < spec.alpha)
    reason = f"prediction PSI {psi:.3f} (limit {limit:g}); chi-square p={p:.3g}"
    return CheckResult("prediction_shift", verdict, numbers, reason)


def online_accuracy(
    champion: ArmEvidence, candidate: ArmEvidence, task: TaskName, spec: AnalysisSpec
) -> CheckResult:
    import numpy as np
    from scipy import stats

    blocking = spec.require_labels
    limit = spec.max_accuracy_drop
    numbers: dict[str, Any] = {"max_drop": limit}
    for arm, ev in (("champion", champion), ("candidate", candidate)):
        numbers[f"{arm}_labels"] = len(ev.labels)
        numbers[f"{arm}_coverage"] = (
            len(ev.labels) / len(ev.predictions) if len(ev.predictions) else 0.0
        )
    labelled = min(numbers["champion_labels"], numbers["candidate_labels"])
    coverage = min(numbers["champion_coverage"], numbers["candidate_coverage"])
    if labelled < spec.min_labels or coverage < spec.min_label_coverage:
        reason = (
            f"{labelled} labelled rows ({coverage:.1%} of predictions) on the sparser arm; "
            f"needs {spec.min_labels} and {spec.min_label_coverage:.0%}"
        )
        return CheckResult("online_accuracy", Verdict.INCONCLUSIVE, numbers, reason, blocking)
    if task == "classification":
        right_b = labels(champion.labels) == labels(champion.labelled_predictions)
        right_c = labels(candidate.labels) == labels(candidate.labelled_predictions)
        acc_b, acc_c = float(right_b.mean()), float(right_c.mean())
        counts = (int((~right_c).sum()), right_c.size, int((~right_b).sum()), right_b.size)
        _, p = two_proportion(*counts)
        p_limit = margin_test(*counts, limit)  # error share up by more than the drop allowed
        drop = acc_b - acc_c
        numbers |= {"champion_accuracy": acc_b, "candidate_accuracy": acc_c, "drop": drop}
        reason = f"online accuracy {acc_c:.3f} vs {acc_b:.3f} (drop {drop:+.3f}, limit {limit:g})"
    else:
        err_b = np.abs(floats(champion.labels) - floats(champion.labelled_predictions))
        err_c = np.abs(floats(candidate.labels) - floats(candidate.labelled_predictions))
        rmse_b = float(np.sqrt(np.mean(err_b**2)))
        rmse_c = float(np.sqrt(np.mean(err_c**2)))
        drop = ratio(rmse_c, rmse_b) - 1
        p = float(stats.mannwhitneyu(err_c, err_b, alternative="greater").pvalue)
        p_limit = mean_margin_test(err_c**2, err_b**2, (1 + limit) ** 2)
        numbers |= {"champion_rmse": rmse_b, "candidate_rmse": rmse_c, "drop": drop}
        reason = f"online RMSE {rmse_c:.4g} vs {rmse_b:.4g} ({drop:+.1%}, limit +{limit:.0%})"
    numbers |= {"p_value": p, "p_beyond_limit": p_limit}
    verdict = _grade(p_limit < spec.alpha, drop > limit, p < spec.alpha)
    reason += f"; p beyond the limit {p_limit:.3g}"
    if task == "classification" and spec.min_accuracy is not None:
        # the absolute floor: surely below it (the upper bound too) fails, by the point
        # estimate only is marginal; the worse of the two verdicts stands
        floor = spec.min_accuracy
        upper = wilson_upper(int(right_c.sum()), right_c.size, float(stats.norm.isf(spec.alpha)))
        numbers |= {"min_accuracy": floor, "candidate_accuracy_upper": upper}
        below = _grade(upper < floor, acc_c < floor)
        if _SEVERITY.index(below) > _SEVERITY.index(verdict):
            verdict = below
            reason = (
                f"online accuracy {acc_c:.3f} (upper bound {upper:.3f}) below the floor "
                f"{floor:g}; vs the champion: {reason}"
            )
        else:
            reason += f"; floor {floor:g} (upper bound {upper:.3f})"
    return CheckResult("online_accuracy", verdict, numbers, reason, blocking)


def input_drift(
    champion: ArmEvidence, candidate: ArmEvidence, spec: AnalysisSpec
) -> CheckResult | None:
    """The arms should see the same population; a feature that differs makes the comparison
    unfair (a biased split or sticky key), so the step cannot pass on it."""
    from conveyor.monitoring.corrections import benjamini_hochberg

    features = sorted(set(champion.inputs) & set(candidate.inputs))
    if not features:
        return None
    limit = spec.max_input_psi
    rows_b = len(champion.inputs[features[0]])
    rows_c = len(candidate.inputs[features[0]])
    numbers: dict[str, Any] = {"champion_rows": rows_b, "candidate_rows": rows_c, "max_psi": limit}
    short = _too_few("input rows", rows_b, rows_c, spec.min_requests)
    if short:
        return CheckResult("input_drift", Verdict.INCONCLUSIVE, numbers, short)
    shifts = [shift(champion.inputs[f], candidate.inputs[f], None) for f in features]
    adjusted = benjamini_hochberg([p for _, p in shifts])
    per_feature = {
        f: {"psi": psi, "p_value": p}
        for f, (psi, _), p in zip(features, shifts, adjusted, strict=True)
    }
    numbers["features"] = per_feature
    grades = {}
    for name, found in per_feature.items():
        # arms that saw different inputs make the comparison unfair, not the candidate worse:
        # the step waits (inconclusive) for more evidence or a person to check the routing,
        # never rolls back on it. And it is called on strong evidence only: the check runs
        # every round of a step, and a random split of a few hundred rows shows a PSI over
        # the limit now and then (a real bias, a sticky key, shows p far below this)
        significant = found["p_value"] < spec.alpha * INPUT_DRIFT_ALPHA_SHARE
        beyond = found["psi"] > limit
        grades[name] = (
            Verdict.INCONCLUSIVE if significant and beyond else _grade(False, beyond, significant)
        )
    worst = max(grades.values(), key=_INPUT_SEVERITY.index)
    flagged = [f for f, g in grades.items() if g is worst and g is not Verdict.PASS]
    if flagged:
        listed = ", ".join(f"{f} (PSI {per_feature[f]['psi']:.3f})" for f in flagged)
        reason = f"the arms saw different inputs: {listed} (limit {limit:g})"
    else:
        reason = f"the arms saw the same inputs on {len(features)} features"
    return CheckResult("input_drift", worst, numbers, reason)
