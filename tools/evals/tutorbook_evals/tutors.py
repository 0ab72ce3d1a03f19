"""``python -m tutorbook_evals.tutors`` (``make eval-tutors``): does answering by code cost a LoRA
classifier accuracy or calibration?

For each label set, two adapters of the base model trained with the same options on the same training
split: one answering with the label itself (scored the reference way, every label's full sequence), one
answering with a one-token code per label (scored as the gateway serves it, one decoding step, and the
reference way, every code in full). Each is scored on the held-out split, which no training or tuning
saw (test texts that also appear in the training split, after normalising case and spaces, are dropped
first). Accuracy and the expected calibration error of the confidence, by the training tools (PEFT,
float32; the e2e tests check that the gateway's scores from vLLM are these). Writes JSON
(``data/eval/tutors.json``) and prints a Markdown table.

Sets: support triage (5 labels) and support intents (24) from the samples; banking77 from the evaluation
data: 20 labels (as docs/compare.md), 5 labels with 200 held-out texts (a 5-label set large enough to
tell a point's difference from one answer's), and all 77 with ``--sets banking77-77`` (long: its prompt is
760 tokens); ``clinc150-stems``: 16 CLINC150 intents whose codes are words' beginnings (320 held out).
"""

import argparse
import datetime
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from tutorbook_devstack.bench_machine import describe_code
from tutorbook_devstack.bench_report import write_results
from tutorbook_evals.compare.datasets import ClassificationSet, Subset, builtin_classification
from tutorbook_evals.doc_figures import tutor_accuracy
from tutorbook_evals.routing_set import default_eval_data

REPO_ROOT = Path(__file__).resolve().parents[3]
# CLINC150's intents none of whose words can be a code whole (one token to the default base model, at most 8
# characters), so that their codes are the words' beginnings (calcul, vacc, trans, ...): chosen by their names
# alone, before any adapter was trained on them; no earlier choice about codes saw CLINC150's texts.
STEM_INTENTS = (
    "calculator", "calories", "directions", "goodbye", "ingredient_substitution", "international_fees",
    "international_visa", "measurement_conversion", "redeem_rewards", "restaurant_reservation",
    "restaurant_reviews", "restaurant_suggestion", "rollover_401k", "transactions", "translate", "vaccines",
)  # fmt: skip
SETS = {  # name: (dataset, subset)
    "support-triage": ("support-triage", Subset()),
    "support-intents": ("support-intents", Subset()),
    "banking77-5": ("banking77", Subset(labels=5, train_per_label=20, test_per_label=40)),
    "banking77-20": ("banking77", Subset(labels=20, train_per_label=15, test_per_label=5)),
    "banking77-77": ("banking77", Subset(train_per_label=10, test_per_label=3)),
    "clinc150-stems": ("clinc150", Subset(train_per_label=15, test_per_label=20, names=STEM_INTENTS)),
}
DEFAULT_SETS = "support-triage,support-intents,banking77-20,banking77-5,clinc150-stems"
# Where each code style's run is kept: docs/adapters.md's table shows the letter run's label and code
# adapters beside the word run's code adapter.
RESULT_FILES = {"letters": Path("data/eval/tutors.json"), "words": Path("data/eval/tutors-word-codes.json")}


def train_adapter(dataset: ClassificationSet, answer: str, folder: Path, seed: int, codes: str = "words") -> float:
    """Trains an adapter answering ``answer`` ("code", with ``codes`` of that style, or "label") into
    ``folder``; the seconds it took."""
    from tutorbook_training.data import classifier_dataset, write_card
    from tutorbook_training.label_scoring import with_codes
    from tutorbook_training.model import default_base_model
    from tutorbook_training.train import options_for, train

    base = default_base_model()
    data = classifier_dataset(dataset.labels, [(e.text, e.label) for e in dataset.train])
    data = with_codes(data, base, "words" if codes == "words" else "letters") if answer == "code" else data
    started = time.perf_counter()
    model, figures = train(data, options_for(data, seed=seed), base)
    seconds = time.perf_counter() - started
    model.save_pretrained(folder, safe_serialization=True)
    write_card(data, f"eval-{answer}s", "smollm2-135m-instruct", folder, figures, routed=False)
    return seconds


def scored(folder: Path, dataset: ClassificationSet) -> dict[str, dict[str, float]]:
    """The adapter's accuracy and calibration error as served and, for a code classifier, the reference way."""
    from tutorbook_training.data import classifier_dataset
    from tutorbook_training.evaluate import adapter_scores
    from tutorbook_training.model import default_base_model, load_base_model

    model, tokenizer = load_base_model(default_base_model())
    heldout = classifier_dataset(dataset.labels, [(e.text, e.label) for e in dataset.test])
    served, reference = adapter_scores(model, tokenizer, folder, heldout)
    figures = {"served": {"accuracy": served.quality, "calibration_error": served.calibration_error or 0.0}}
    if reference is not None:
        figures["reference"] = {"accuracy": reference.quality, "calibration_error": reference.calibration_error or 0.0}
    return figures


def evaluate_set(
    name: str,
    eval_data: Path | None,
    seed: int,
    root: Path,
    answers: tuple[str, ...] = ("label", "code"),
    codes: str = "words",
) -> dict[str, Any]:
    source, subset = SETS[name]
    dataset = builtin_classification(source, REPO_ROOT / "samples", eval_data, subset)
    figures: dict[str, Any] = {"labels": len(dataset.labels), "train": len(dataset.train), "test": len(dataset.test)}
    figures["measured"] = {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "commit": describe_code(__file__),
    }
    for answer in answers:
        print(f"{name}: training the adapter answering by {answer} ...", file=sys.stderr, flush=True)
        folder = root / f"{name}-{answer}"
        seconds = train_adapter(dataset, answer, folder, seed, codes)
        figures[answer] = {"train_seconds": seconds, **scored(folder, dataset)}
    if "code" in answers:
        figures["codes"] = codes
    return figures


def earlier_sets(path: Path, rerun: list[str]) -> dict[str, Any]:
    """The sets an earlier run wrote to ``path`` and this one does not measure again (each keeps its own
    ``measured`` date and commit), so one set can be re-measured without hours for the others."""
    try:
        sets = json.loads(path.read_text())["figures"]["sets"]
    except (OSError, ValueError, KeyError, TypeError):
        return {}
    return {name: figures for name, figures in sets.items() if name not in rerun and "measured" in figures}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tutorbook_evals.tutors", description=__doc__)
    parser.add_argument("--sets", default=DEFAULT_SETS, help=f"comma-separated, of: {', '.join(SETS)}")
    parser.add_argument("--eval-data", type=Path, default=default_eval_data(REPO_ROOT), help="for banking77")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, help=f"default: by --codes, {', '.join(map(str, RESULT_FILES.values()))}")
    parser.add_argument("--answers", default="label,code", help="which adapters to train: label, code or both")
    parser.add_argument("--codes", choices=("letters", "words"), default="words", help="the code adapter's codes")
    args = parser.parse_args()
    args.json = args.json or RESULT_FILES[args.codes]
    answers = tuple(answer.strip() for answer in args.answers.split(",") if answer.strip())
    if not answers or set(answers) - {"label", "code"}:
        parser.error(f"--answers: label, code or both, not {args.answers!r}")
    names = [name.strip() for name in args.sets.split(",") if name.strip()]
    unknown = sorted(set(names) - set(SETS))
    if unknown:
        parser.error(f"--sets: unknown {', '.join(unknown)}; known: {', '.join(SETS)}")
    results = earlier_sets(args.json, names)
    with tempfile.TemporaryDirectory(prefix="tutorbook-eval-tutors-") as tmp:
        for name in names:
            results[name] = evaluate_set(name, args.eval_data, args.seed, Path(tmp), answers, args.codes)
            write_results(
                "tutors", {"seed": args.seed, "sets": results}, args.json
            )  # after each: a long run keeps them
    print("\n".join(tutor_accuracy({"figures": {"sets": results}})))
    print(f"figures: {args.json}")


if __name__ == "__main__":
    main()
