"""The two statistics rollout decisions rest on, honest for small counts.

A rate (errors, agreement, thumbs-down, supported claims) is judged by its Wilson score interval at 95%,
not by its point estimate: with 3 errors in 3 requests the interval is 0.44-1.00, with 0 in 3 it is
0.00-0.56, so three requests are enough to show a candidate that always fails, and never enough to show
one that is fine. Wilson's interval keeps its coverage near 0 and 1 and at small n, where the normal
approximation gives intervals of zero width (0 of 3: "0.00-0.00"); it is what Agresti and Coull (1998) and
Brown, Cai and DasGupta (2001) recommend for a binomial proportion.

A decision is taken only when the interval lies wholly on one side of the bound: until then, the rollout
waits for more requests.
"""

import math
from collections.abc import Sequence

Z_95 = 1.959964  # two-sided 95%
Z_99 = 2.575829  # two-sided 99%: for decisions taken at once, on evidence looked at again every second


def wilson(successes: int, total: int, z: float = Z_95) -> tuple[float, float]:
    """The Wilson score interval of ``successes`` in ``total`` (0-1 when there is nothing to go on)."""
    if total <= 0:
        return 0.0, 1.0
    share = successes / total
    scale = 1 + z * z / total
    centre = (share + z * z / (2 * total)) / scale
    spread = z * math.sqrt(share * (1 - share) / total + z * z / (4 * total * total)) / scale
    return max(0.0, centre - spread), min(1.0, centre + spread)


def percentile(values: Sequence[float], share: float) -> float | None:
    """The nearest-rank percentile (None: no values). Nearest rank, not interpolation: at 20 values the
    p95 is the 19th, a value that was measured."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]
