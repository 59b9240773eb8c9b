"""The offline surrogate judge's model: cheap features of (prompt, answer), a linear score per
answer, P(A better) = sigmoid(score(A) - score(B)) (antisymmetric by construction), trained on an
LLM judge's recorded verdicts (GPT-4-Turbo on AlpacaEval) and shipped as `weights.npz`.

Pure numpy/scipy; the judge kind that uses it is `arena.judges.surrogate`.
"""

from arena.surrogate.model import DEFAULT_STRONG, DEFAULT_TIE, LENGTH_FEATURES, WEIGHTS_FILE, SurrogateModel, label_for

__all__ = ["DEFAULT_STRONG", "DEFAULT_TIE", "LENGTH_FEATURES", "WEIGHTS_FILE", "SurrogateModel", "label_for"]
