"""Evaluation: image metrics, `eval.json`, renders of held-out views."""
