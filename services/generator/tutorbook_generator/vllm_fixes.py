"""A vLLM general plugin (``tutorbook_lora_prompt_logprobs``): prompt log-probabilities with a LoRA
adapter on CPU without killing the engine.

vLLM 0.32's CPU LoRA wrapper adds the adapter's ``lm_head`` delta to logits with one LoRA index per
*request* (``sampler_indices``); the prompt log-probabilities path hands it one row per prompt *token*.
With two or more requests in a batch the shapes disagree, ``einsum`` raises, and the engine dies
(vllm-project/vllm#29955; #51594 for the same misalignment on GPU, where the delta is silently dropped).
The gateway scores a classifier's labels with prompt log-probabilities, under concurrent traffic.

The delta is zero for every adapter Tutorbook serves: the gateway refuses adapters that target
``lm_head`` (it is not among the base model's projections, ``adapters/validation.py``). So when the rows
are prompt tokens (more or fewer rows than requests), the delta is skipped: the answer vLLM would have
computed had the shapes agreed, without the crash.
"""

from typing import Any

PLUGIN_NAME = "tutorbook_lora_prompt_logprobs"


def add_lora_logits_for_prompt_rows(original: Any) -> Any:
    def add_lora_logits(self: Any, y: Any, x: Any, *args: Any, **kwargs: Any) -> Any:
        rows = x.view(-1, x.shape[-1]).size(0)
        if rows != self.sampler_indices.size(0):
            return None  # prompt-token rows: no lm_head delta to add (see the module's docstring)
        return original(self, y, x, *args, **kwargs)

    add_lora_logits.tutorbook_patched = True  # type: ignore[attr-defined]
    return add_lora_logits


def register() -> None:
    """Called by vLLM in every process (loaded again in each: patching twice is a no-op)."""
    from vllm.lora.punica_wrapper.punica_cpu import PunicaWrapperCPU

    if not getattr(PunicaWrapperCPU.add_lora_logits, "tutorbook_patched", False):
        PunicaWrapperCPU.add_lora_logits = add_lora_logits_for_prompt_rows(  # type: ignore[method-assign]
            PunicaWrapperCPU.add_lora_logits
        )
