"""The student's answers on a set of inputs, for the gate and the router.

Classification scores the label set by likelihood (never free generation: the
answer is always a label, and its probability is a calibrated confidence);
extraction and free text generate greedily with the short student prompt and
take the geometric mean of the token probabilities as the confidence.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from distillery.taskspec import TaskSpec
from trainer.data import encode_prompt
from trainer.head import Classifier, check_labels, classify
from trainer.scoring import score_labels


@dataclass(frozen=True)
class Prediction:
    """One answer and how sure the student is of it."""

    answer: str | dict[str, Any] | None
    confidence: float


def predict(model: Any, tokenizer: Any, spec: TaskSpec, texts: Sequence[str], *,
            batch_size: int = 8, max_new_tokens: int = 128, classifier: Classifier | None = None) -> list[Prediction]:
    """The student's answer to every text, with its confidence.

    With a ``classifier`` (an adapter trained with a head) one forward pass over
    each input scores the whole label set (:mod:`trainer.head`); without one a
    classification task is scored by label likelihood.
    """
    prompt = spec.student.system_prompt
    if classifier is not None:
        check_labels(classifier, spec.labels, f"tasks.{spec.name}.labels")
        return [Prediction(label, conf) for label, conf, _ in
                classify(model, tokenizer, classifier, prompt, texts, batch_size=max(batch_size, 32))]
    if spec.kind == "classification":
        scores = score_labels(model, tokenizer, texts, spec.labels, prompt, batch_size=batch_size)
        return [Prediction(s.label, s.confidence) for s in scores]
    return [_generate(model, tokenizer, prompt, t, spec.kind, max_new_tokens) for t in texts]


def _generate(model: Any, tokenizer: Any, prompt: str, text: str, kind: str, max_new_tokens: int) -> Prediction:
    import torch

    ids = encode_prompt(tokenizer, prompt, text)
    device = next(model.parameters()).device
    with torch.inference_mode():
        out = model.generate(
            input_ids=torch.tensor([ids], device=device), max_new_tokens=max_new_tokens, do_sample=False,
            output_scores=True, return_dict_in_generate=True, pad_token_id=tokenizer.pad_token_id,
        )
    new = out.sequences[0][len(ids):]
    logps = [torch.log_softmax(step[0].float(), -1)[tok].item() for step, tok in zip(out.scores, new, strict=False)]
    answer_text = tokenizer.decode(new, skip_special_tokens=True).strip()
    confidence = math.exp(sum(logps) / len(logps)) if logps else 0.0
    if kind == "extraction":
        try:
            parsed = json.loads(answer_text)
        except ValueError:
            return Prediction(None, confidence)
        return Prediction(parsed if isinstance(parsed, dict) else None, confidence)
    return Prediction(answer_text, confidence)
