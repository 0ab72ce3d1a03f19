"""``tutorbook-train-adapter DATA.jsonl --name NAME --output DIR``: train a LoRA adapter with PEFT (or,
with ``--kind embedding-classifier``, a logistic regression on the retriever's embeddings:
:mod:`tutorbook_training.embedding_classifier`).

The output folder is a standard PEFT adapter (safetensors) plus its card, ``tutorbook.json``, ready for
``POST /v1/adapters``. The loss counts the answer's tokens only. Deterministic with ``--seed``.
"""

import argparse
import dataclasses
import math
import random
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from tutorbook_generator.precision import bf16_supported
from tutorbook_training.answer_loss import CodeSmoothing, answer_loss, code_token_ids
from tutorbook_training.data import DataError, Dataset, Example, load_dataset, split, write_card
from tutorbook_training.label_scoring import with_codes
from tutorbook_training.model import load_base_model

ALL_PROJECTIONS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


@dataclass(frozen=True)
class TrainOptions:
    """The defaults were measured (docs/adapters.md, "What we tried"): rank 16 on every projection at a
    learning rate of 1e-3 for up to 5 epochs, stopping early on the validation loss."""

    rank: int = 16
    alpha: int = 32
    target_modules: tuple[str, ...] = ALL_PROJECTIONS
    epochs: float = 5.0
    learning_rate: float = 1e-3
    max_length: int | None = None  # tokens of prompt + answer (None: the longest example's, up to MAX_LENGTH)
    batch_size: int = 8
    validation_split: float = 0.1
    patience: int = 2  # epochs without a lower validation loss before training stops
    seed: int = 0
    qlora: bool = False
    bf16: bool | None = None  # compute in bfloat16 (master weights stay float32); None: where the CPU supports it
    code_smoothing: float = 0.0  # answering by code: label smoothing over the codes (answer_loss.py; measured, not on)


CODE_EPOCHS = 10.0  # a classifier answering by code learns to read its answer off the prompt: slower to train


def options_for(dataset: Dataset, **changes: Any) -> TrainOptions:
    """The defaults for this data (a classifier answering by code trains for up to CODE_EPOCHS), changed."""
    epochs = CODE_EPOCHS if dataset.codes else TrainOptions.epochs
    return dataclasses.replace(TrainOptions(epochs=epochs), **changes)


def autocast(enabled: bool) -> Any:
    return torch.autocast("cpu", dtype=torch.bfloat16, enabled=enabled)


MAX_LENGTH = 2048  # the generator's context (TUTORBOOK_GENERATOR_ENGINE__MAX_MODEL_LEN's default)


def encode(tokenizer: Any, example: Example, max_length: int) -> tuple[list[int], list[int]]:
    """Token ids of prompt + answer, and labels that mask the prompt (-100); a longer one loses its start."""
    prompt = tokenizer.apply_chat_template(example.messages, tokenize=False, add_generation_prompt=True)
    prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    answer_ids = tokenizer(example.answer + tokenizer.eos_token, add_special_tokens=False)["input_ids"]
    ids = (prompt_ids + answer_ids)[-max_length:]
    labels = ([-100] * len(prompt_ids) + answer_ids)[-max_length:]
    return ids, labels


def batches(encoded: list[tuple[list[int], list[int]]], size: int, pad: int) -> list[dict[str, torch.Tensor]]:
    out = []
    for start in range(0, len(encoded), size):
        chunk = encoded[start : start + size]
        width = max(len(ids) for ids, _ in chunk)
        ids = torch.full((len(chunk), width), pad, dtype=torch.long)
        labels = torch.full((len(chunk), width), -100, dtype=torch.long)
        mask = torch.zeros((len(chunk), width), dtype=torch.long)
        for row, (token_ids, token_labels) in enumerate(chunk):
            ids[row, : len(token_ids)] = torch.tensor(token_ids)
            labels[row, : len(token_labels)] = torch.tensor(token_labels)
            mask[row, : len(token_ids)] = 1
        out.append({"input_ids": ids, "labels": labels, "attention_mask": mask})
    return out


def mean_loss(
    model: Any, data: list[dict[str, torch.Tensor]], bf16: bool = False, codes: CodeSmoothing | None = None
) -> float:
    if not data:
        return math.nan
    model.eval()
    with torch.no_grad(), autocast(bf16):
        losses = [float(answer_loss(model, batch, codes)) for batch in data]
    model.train()
    return sum(losses) / len(losses)


def lora_state(model: Any) -> dict[str, torch.Tensor]:
    return {name: value.detach().clone() for name, value in model.state_dict().items() if "lora_" in name}


@dataclass
class EarlyStopping:
    """Keep the weights of the epoch with the lowest validation loss; stop after ``patience`` epochs
    without a new lowest."""

    patience: int
    best_loss: float = math.inf
    best_state: dict[str, torch.Tensor] | None = None
    best_train_loss: float = math.nan  # the mean step loss of the epoch whose weights are kept
    stale: int = 0

    def should_stop(self, model: Any, validation_loss: float, train_loss: float = math.nan) -> bool:
        if math.isnan(validation_loss):
            return False  # no validation split: train for every epoch
        if validation_loss < self.best_loss:
            self.best_loss, self.best_state, self.stale = validation_loss, lora_state(model), 0
            self.best_train_loss = train_loss
            return False
        self.stale += 1
        return self.stale >= self.patience


def run_epoch(
    model: Any,
    optimizer: Any,
    data: list[dict[str, torch.Tensor]],
    steps_left: int,
    progress: Any,
    bf16: bool,
    codes: CodeSmoothing | None = None,
) -> tuple[int, float]:
    """Train on ``data`` (at most ``steps_left`` batches); returns the steps taken and their mean loss (as
    Hugging Face's Trainer reports its training loss: no second pass over the data)."""
    model.train()
    taken, total = 0, 0.0
    for batch in data[:steps_left]:
        with autocast(bf16):
            loss = answer_loss(model, batch, codes)
        loss.backward()  # type: ignore[no-untyped-call]  # torch leaves Tensor.backward unannotated
        optimizer.step()
        optimizer.zero_grad()
        taken, total = taken + 1, total + loss.item()
        progress.update(1)
        progress.set_postfix(loss=f"{loss.item():.4f}")
    return taken, total / max(1, taken)


def length_limit(tokenizer: Any, dataset: Dataset, max_length: int | None) -> int:
    """``max_length``, or the longest example's length up to MAX_LENGTH. A classifier's prompt is never cut:
    its start is the label list the adapter must learn to answer from, so a longer one is refused."""
    longest = max(len(encode(tokenizer, example, MAX_LENGTH * 4)[0]) for example in dataset.examples)
    if max_length is None:
        return min(longest, MAX_LENGTH)
    if dataset.task_type == "classifier" and longest > max_length:
        raise DataError(
            f"the longest classifier example is {longest} tokens (its label list and the message), over "
            f"--max-length {max_length}: its labels would be cut off; pass --max-length {longest} or more"
        )
    return max_length


# Called after each epoch with its number (from 1), the model as that epoch left it and the epoch's figures.
AfterEpoch = Callable[[int, Any, dict[str, float]], None]


def run_figures(
    train_loss: float, steps: int, validation_loss: float, epochs: int, bf16: bool, max_length: int
) -> dict[str, float]:
    return {
        "train_loss": train_loss, "steps": float(steps), "validation_loss": validation_loss,
        "epochs": float(epochs), "bf16": float(bf16), "max_length": float(max_length),
    }  # fmt: skip


def train(
    dataset: Dataset, options: TrainOptions, base_model: Path, after_epoch: AfterEpoch | None = None
) -> tuple[Any, dict[str, float]]:
    """The model with the weights of its best epoch, and their figures. ``after_epoch`` sees every epoch's
    weights as trained (a test keeps an earlier epoch's adapter from the same run, instead of a second run)."""
    from peft import LoraConfig, get_peft_model

    random.seed(options.seed)
    torch.manual_seed(options.seed)
    model, tokenizer = load_base_model(base_model, options.qlora)
    config = LoraConfig(
        r=options.rank, lora_alpha=options.alpha, target_modules=list(options.target_modules), task_type="CAUSAL_LM"
    )
    model = get_peft_model(model, config)
    max_length = length_limit(tokenizer, dataset, options.max_length)
    training, validation = split(dataset.examples, options.validation_split, options.seed)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    valid_batches = batches([encode(tokenizer, e, max_length) for e in validation], options.batch_size, pad)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=options.learning_rate)
    steps = max(1, math.ceil(len(training) / options.batch_size * options.epochs))
    progress = tqdm(total=steps, desc="train", unit="step", file=sys.stderr)
    order, stopping, step, epochs = random.Random(options.seed), EarlyStopping(options.patience), 0, 0
    bf16 = bf16_supported() if options.bf16 is None else options.bf16
    codes = CodeSmoothing(code_token_ids(tokenizer, dataset.codes), options.code_smoothing) if dataset.codes else None
    while step < steps:
        shuffled = list(training)
        order.shuffle(shuffled)
        encoded = [encode(tokenizer, example, max_length) for example in shuffled]
        data = batches(encoded, options.batch_size, pad)
        taken, train_loss = run_epoch(model, optimizer, data, steps - step, progress, bf16, codes)
        step, epochs, validation_loss = step + taken, epochs + 1, mean_loss(model, valid_batches, bf16, codes)
        if after_epoch is not None:
            after_epoch(epochs, model, run_figures(train_loss, step, validation_loss, epochs, bf16, max_length))
        if stopping.should_stop(model, validation_loss, train_loss):
            break
    progress.close()
    if stopping.best_state is not None:  # the kept epoch's figures (each measured once, during training)
        model.load_state_dict(stopping.best_state, strict=False)
        train_loss, validation_loss = stopping.best_train_loss, stopping.best_loss
    figures = run_figures(train_loss, step, validation_loss, epochs, bf16, max_length)
    if codes is not None:
        figures.update(code_smoothing=codes.smoothing)
    return model, figures


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tutorbook-train-adapter", description=__doc__)
    parser.add_argument("data", type=Path, help="JSONL: {'messages': [...]} or {'text': ..., 'label': ...} per line")
    parser.add_argument("--name", required=True, help="the adapter's name (lowercase letters, digits, '-')")
    parser.add_argument("--kind", choices=("lora", "embedding-classifier"), default="lora",
                        help="embedding-classifier: a logistic regression on the retriever's embeddings, served "
                        "by the gateway without the generator (classifier data only; seconds to train)")  # fmt: skip
    parser.add_argument("--output", type=Path, required=True)
    parser.add_argument("--answer", choices=("code", "label"), default="code",
                        help="classifiers: answer with a one-token code per label (served in one decoding step) "
                        "or with the label itself (served by scoring every label: slower)")  # fmt: skip
    parser.add_argument("--codes", choices=("letters", "words"), default="words",
                        help="answering by code: a one-token word of each label's own where there is one (the "
                        "default: more accurate, docs/adapters.md) or letters (A, B, ...)")  # fmt: skip
    parser.add_argument("--base-model", type=Path, help="HF folder of the base model (default: SmolLM2 from its wheel)")
    parser.add_argument("--base-model-name", default="smollm2-135m-instruct", help="the base model's served name")
    defaults = TrainOptions()
    parser.add_argument("--rank", type=int, default=defaults.rank)
    parser.add_argument("--alpha", type=int, default=defaults.alpha)
    parser.add_argument("--target-modules", default=",".join(defaults.target_modules))
    epochs = f"at most (early stopping may end sooner); default {defaults.epochs:g}, {CODE_EPOCHS:g} answering by code"
    parser.add_argument("--epochs", type=float, help=epochs)
    parser.add_argument("--learning-rate", type=float, default=defaults.learning_rate)
    parser.add_argument("--max-length", type=int, help="tokens of prompt and answer (default: the longest example's)")
    parser.add_argument("--batch-size", type=int, default=defaults.batch_size)
    parser.add_argument("--validation-split", type=float, default=defaults.validation_split,
                        help="held out of the training data for early stopping (0: train every epoch)")  # fmt: skip
    parser.add_argument(
        "--patience", type=int, default=defaults.patience, help="epochs without a better validation loss"
    )
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--code-smoothing", type=float, default=defaults.code_smoothing,
                        help="answering by code: label smoothing over the codes, so the served confidence is "
                        "not trained towards 1 (default 0, plain cross-entropy: 0.1 made support-triage's "
                        "confidence far too low, docs/adapters.md)")  # fmt: skip
    unrouted = "'auto' never routes to it by the question (the grounded reader: docs/answers.md)"
    parser.add_argument("--no-route-examples", action="store_true", help=unrouted)
    parser.add_argument("--qlora", action="store_true", help="train in 4 bits with bitsandbytes (needs CUDA)")
    parser.add_argument("--precision", choices=("auto", "bf16", "fp32"), default="auto",
                        help="auto: bfloat16 compute where the CPU has it in hardware")  # fmt: skip
    return parser


def chosen_options(args: argparse.Namespace) -> dict[str, Any]:
    """The training options given on the command line (the others: :func:`options_for` the data)."""
    chosen = dict(
        rank=args.rank, alpha=args.alpha, target_modules=tuple(args.target_modules.split(",")),
        learning_rate=args.learning_rate, max_length=args.max_length, batch_size=args.batch_size,
        validation_split=args.validation_split, patience=args.patience, seed=args.seed, qlora=args.qlora,
        code_smoothing=args.code_smoothing,
        bf16={"auto": None, "bf16": True, "fp32": False}[args.precision],
    )  # fmt: skip
    return chosen if args.epochs is None else {**chosen, "epochs": args.epochs}


def main() -> None:
    args = parser().parse_args()
    if args.qlora and not torch.cuda.is_available():
        sys.exit("--qlora trains in 4 bits with bitsandbytes, which needs a CUDA GPU; none is present here")
    try:
        dataset = load_dataset(args.data)
    except DataError as exc:
        sys.exit(str(exc))
    if args.kind == "embedding-classifier":
        train_and_write_embedding_classifier(dataset, args)
        return
    from tutorbook_training.model import default_base_model

    base = args.base_model or default_base_model()
    print(f"{dataset.task_type} adapter {args.name!r}: {len(dataset.examples)} examples, base model {base}")
    try:
        if dataset.task_type == "classifier" and args.answer == "code":
            dataset = with_codes(dataset, base, args.codes)
        model, figures = train(dataset, options_for(dataset, **chosen_options(args)), base)
    except DataError as exc:
        sys.exit(str(exc))
    args.output.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(args.output, safe_serialization=True)
    write_card(dataset, args.name, args.base_model_name, args.output, figures, routed=not args.no_route_examples)
    print(f"train loss {figures['train_loss']:.4f}, validation loss {figures['validation_loss']:.4f}")
    print(f"adapter written to {args.output}")


def train_and_write_embedding_classifier(dataset: Dataset, args: argparse.Namespace) -> None:
    from tutorbook_training.embedding_classifier import train_embedding_classifier, write_embedding_classifier

    print(f"embedding classifier {args.name!r}: {len(dataset.examples)} examples, the retriever's embedder")
    try:
        classifier, figures = train_embedding_classifier(dataset, args.seed)
    except ValueError as exc:
        sys.exit(str(exc))
    write_embedding_classifier(dataset, args.name, classifier, args.output, figures)
    accuracy = figures.get("cross_validated_accuracy")
    scored = "" if accuracy is None else f", cross-validated accuracy {accuracy:.3f}"
    print(f"trained in {figures['seconds']:.1f} s{scored}; written to {args.output}")


if __name__ == "__main__":
    main()
