"""Renderers for the evaluations' result files (``data/eval/``): retrieval quality per corpus, the claim
check's catches, routing accuracy, the tutor's code styles side by side, and the embedding classifier's
calibration. The blocks that use them are registered in :mod:`tutorbook_evals.doc_figures`."""

from typing import Any

from tutorbook_devstack.bench_sections import table


def tutor_accuracy_levers(documents: list[dict[str, Any]]) -> list[str]:
    """The label adapter and the letter-code adapter from the first run, the word-code adapter (its
    ``codes`` "words") from the second where there is one: one row per label set."""
    words = documents[1]["figures"]["sets"] if len(documents) > 1 else {}
    styles = [figures.get("codes", "letters") for figures in documents[0]["figures"]["sets"].values()]
    if set(styles) - {"letters"} or any(figures.get("codes") != "words" for figures in words.values()):
        raise ValueError("the first file must hold letter codes, the second word codes (tutors.py --codes)")
    rows = [
        "| label set | labels | train | held out | by label, every label in full (the reference) "
        "| by letter code, one step | by word code, one step (as served) | by word code, every code in full |",
        "|:---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    measured = []
    for name, figures in documents[0]["figures"]["sets"].items():
        word_code = words.get(name, {}).get("code", {})
        cells = [figures.get("label", {}).get("served"), figures.get("code", {}).get("served")]
        cells += [word_code.get("served"), word_code.get("reference")]
        shown = [f"{cell['accuracy']:.3f} (ECE {cell['calibration_error']:.3f})" if cell else "" for cell in cells]
        counts = f"{figures['labels']} | {figures['train']} | {figures['test']}"
        rows.append(f"| {name} | {counts} | " + " | ".join(shown) + " |")
        first_run = " and ".join(run for key, run in (("label", "label"), ("code", "letter codes")) if key in figures)
        for run, found in ((first_run, figures), ("word codes", words.get(name, {}))):
            if "measured" in found:
                when = found["measured"]
                measured.append(f"{name}, {run}, on {when['date'][:16].replace('T', ' ')} UTC at {when['commit']}")
    note = [f"Each set was measured on its own run: {'; '.join(measured)}.", ""] if measured else []
    return [*rows, "", *note]


RETRIEVALS = {
    "dense": "dense only",
    "bm25": "BM25 only",
    "hybrid-score": "hybrid, score fusion (the default)",
    "hybrid-rrf": "hybrid, RRF",
}


def retrieval_quality(document: dict[str, Any]) -> list[str]:
    """``make eval-retrieval`` on one corpus: each signal and fusion at int8 (the default), and fp32's MRR."""
    figures = document["figures"]
    precisions = figures["precisions"]
    default = precisions["int8"]
    rows = []
    for key, label in RETRIEVALS.items():
        scores = default["retrievals"][key]
        cells = [f"{scores['recall'][k]:.3f}" for k in ("1", "5", "10")] + [f"{scores['mrr']:.3f}"]
        if "fp32" in precisions:
            cells.append(f"{precisions['fp32']['retrievals'][key]['mrr']:.3f}")
        rows.append([label, *cells])
    headings = ["retrieval", "R@1", "R@5", "R@10", "MRR@10", *(["MRR@10 at fp32"] if "fp32" in precisions else [])]
    unmapped = f" ({figures['unmapped']} without a gold section in the corpus left out)" if figures["unmapped"] else ""
    intro = (
        f"{figures['dataset']}: {figures['documents']} documents ({default['chunks']} chunks), "
        f"{figures['questions']} questions{unmapped}; embedded at int8, the default."
    )
    return [intro, "", *table(headings, rows)]


def claim_catches(document: dict[str, Any]) -> list[str]:
    """``tutorbook-eval-answers score --output``: per run and in all, the wrong answers each claims policy
    caught and the right answers it changed, over the answers labelled by hand for their exact text."""
    figures = document["figures"]
    runs = [report for report in figures["runs"].values() if report.get("claims_policies")]
    named = [(", ".join(report["sets"]), report["claims_policies"]) for report in runs]
    if not named:
        return ["No run has answers labelled for their exact text: nothing to show.", ""]
    if len(named) > 1 and (figures.get("all") or {}).get("claims_policies"):
        named.append(("all", figures["all"]["claims_policies"]))  # as the scoring command totalled them
    policies = [key for key in named[0][1] if isinstance(named[0][1][key], dict)]

    def share(count: int, out_of: int) -> str:
        return f"{count} of {out_of}" + (f" ({count / out_of:.0%})" if out_of else "")

    rows = [
        [name, str(caught["labelled"]), policy, share(caught[policy]["caught"], caught["wrong"]),
         share(caught[policy]["false_flags"], caught["right"])]
        for name, caught in named
        for policy in policies
    ]  # fmt: skip
    return table(["answers", "labelled", "policy", "wrong answers caught", "right answers changed"], rows, left=3)


def routing_accuracy(document: dict[str, Any]) -> list[str]:
    """``tutorbook-eval-routing --json``: the accuracy on a split and its confusion matrix."""
    figures = document["figures"]
    matrix = figures["confusion"]
    routes = list(matrix)
    rows = []
    for expected in routes:
        total = sum(matrix[expected].values())
        recall = matrix[expected][expected] / total if total else 0.0
        rows.append([expected, *(str(matrix[expected][chosen]) for chosen in routes), f"{recall:.3f}"])
    picked = {chosen: sum(matrix[expected][chosen] for expected in routes) for chosen in routes}
    precision = [f"{matrix[c][c] / picked[c]:.3f}" if picked[c] else "" for c in routes]
    rows.append(["precision", *precision, ""])
    intro = (
        f"{figures['split']} split: {figures['correct']} of {figures['requests']} requests routed as expected, "
        f"accuracy {figures['accuracy']:.3f}. Rows: the expected route; columns: the route chosen."
    )
    return [intro, "", *table(["expected", *routes, "recall"], rows)]


EMBEDDING_CLASSIFIER_SETS = {
    "support-triage": "support triage",
    "banking77-20": "banking77, 20 intents",
    "clinc150-24": "CLINC150, 24 intents",
}


def embedding_classifier_calibration(document: dict[str, Any]) -> list[str]:
    """``make eval-embedding-classifiers``: accuracy, and the calibration error before and after the
    temperature cross-validation fits, per label set."""
    rows = []
    for name, figures in document["figures"]["sets"].items():
        plain, fitted = figures["plain"], figures["fitted"]
        rows.append(
            [
                EMBEDDING_CLASSIFIER_SETS.get(name, name),
                *(str(figures[count]) for count in ("labels", "train", "test")),
                f"{fitted['accuracy']:.3f}",
                f"{plain['calibration_error']:.3f}",
                f"**{fitted['calibration_error']:.3f}** (temperature {figures['temperature']:.2f})",
            ]
        )
    headings = ["label set", "labels", "train", "held out", "accuracy", "calibration error, no temperature"]
    return table([*headings, "with the fitted temperature"], rows)


def second_stages(documents: list[dict[str, Any]]) -> list[str]:
    """``make eval-second-stages``: each lever's R@1 / R@5 on every corpus (one run each, the same
    first-stage candidates), then what the cross-encoder cost."""
    corpora = [document["figures"] for document in documents]
    rows = []
    for key in corpora[0]["retrievals"]:
        cells = []
        for figures in corpora:
            recall = figures["retrievals"][key]["recall"]
            cells.append(f"{recall['1']:.3f} / {recall['5']:.3f}")
        rows.append([second_stage_label(key), *cells])
    headings = ["second stage", *(f"{figures['dataset']} R@1 / R@5" for figures in corpora)]
    costs = [
        f"{figures['dataset']}: {figures['training']['groups']} groups mined, trained in "
        f"{figures['training']['training_seconds']:.0f} s; {figures['cross_encoder_ms']['p50']:.0f} ms a question "
        f"(p50) to rescore {figures['cross_encoder_ms']['pairs'][0]} passages"
        for figures in corpora
        if "training" in figures
    ]
    return [*table(headings, rows), f"The cross-encoder's cost: {'; '.join(costs)}.", ""]


SECOND_STAGES = {
    "hybrid-score": "none (the default hybrid search)",
    "title field": "the heading as its own field, weight",
    "page evidence": "page-level evidence, weight",
    "cross-encoder top": "cross-encoder over the top",
}


def second_stage_label(key: str) -> str:
    """A result file's run name in words: ``title field 0.2`` is "the heading as its own field, weight 0.2"."""
    for prefix, words in SECOND_STAGES.items():
        if key.startswith(prefix):
            return words + key.removeprefix(prefix).replace(" at ", ", weight ")
    return key


SECOND_STAGE_CORPORA = ("emanual-s10", "emanual-tv", "emanual-tv-held-out", "mtrag-cloud")
