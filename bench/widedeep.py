"""Width x depth of the wide/deep network judge: accuracy when neurons are independent noisy judges.

    .venv/bin/python bench/widedeep.py [--pairs 200] [--p 0.65] [--herding 0] [--seed 0]

The loopback OpenAI-compatible server (tests/loopback.py, real HTTP through litellm) plays the
judge model. Each labelled pair hides which answer is gold; every neuron evaluation (pair, order,
layer, reviewer) independently favours the gold answer with probability `p`, by a margin drawn
uniformly from 1..4 points (scores 5 + margin and 5). With `--herding h`, a neuron of layer >= 2
instead follows, with probability h, the side most of the evaluations it read favoured (a model
of discussion that copies errors as well as truths).

Each network (width 1, 2, 4, 8 x depth 1, 2; `decision = "mean"`, tie margin 0.5) is evaluated
through the judge-reliability mode (`arena.reliability.evaluate_judge`, both orders, a fresh
in-memory store) and the table shows, with 95% bootstrap intervals: accuracy per game (a game
is one order's network decision; ties count as wrong), the JudgeBench pair score, the tie rate,
the accuracy of the games that were decided (not ties), and the calls a pair cost (counted by
the server). `--tie-margin 0` shows the same networks without a tie band. With p = 0.65 one neuron is right in 65% of
games; a wider network averages independent errors out.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("LITELLM_OFFLINE_MODE", "true")

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from loopback import LoopbackServer, Reply  # noqa: E402

from arena.reliability import build_result, evaluate_judge, read_pairs  # noqa: E402
from arena.store import Store  # noqa: E402

REVIEWER_RE = re.compile(r"You are reviewer (\d+) of (\d+) .*? This is round (\d+) of (\d+)", re.DOTALL)
SCORES_RE = re.compile(r"Score A: (\d+)\nScore B: (\d+)")
GOLD = "<!-- gold -->"
ROLES = json.dumps([{"name": f"Reviewer {i}", "description": "judges overall quality"} for i in range(1, 9)])


def uniform(*parts) -> float:
    h = hashlib.sha256("\x1f".join(map(str, parts)).encode()).digest()
    return int.from_bytes(h[:8], "big") / 2**64


class NoisyNeurons:
    """The loopback hook: independent noisy neurons of accuracy p (with optional herding)."""

    def __init__(self, p: float, herding: float, seed: int) -> None:
        self.p, self.herding, self.seed = p, herding, seed

    def __call__(self, req):
        system = next((m["content"] for m in req.messages if m["role"] == "system"), "")
        if "You are planning the review" in system:
            return Reply(text=ROLES, input_tokens=200, output_tokens=80)
        m = REVIEWER_RE.search(system)
        if not m:
            return None
        reviewer, layer = int(m[1]), int(m[3])
        blocks = req.fenced()
        first = blocks["Assistant A's Answer"]
        gold_first = GOLD in first
        pair = re.search(r"Pair (\d+)", first)[1]
        key = (self.seed, pair, "first-gold" if gold_first else "second-gold", layer, reviewer)
        favours_gold = uniform(*key, "right") < self.p
        if layer > 1 and self.herding and uniform(*key, "herd") < self.herding:
            seen = [(int(a), int(b)) for a, b in SCORES_RE.findall(req.messages[-1]["content"])]
            lean = sum((a > b) - (a < b) for a, b in seen)  # + means slot A was favoured
            if lean:
                favours_gold = (lean > 0) == gold_first
        margin = 1 + int(uniform(*key, "margin") * 4)
        favours_first = favours_gold == gold_first
        a, b = (5 + margin, 5) if favours_first else (5, 5 + margin)
        return Reply(text=f"Evidence: scripted.\nScore A: {a}\nScore B: {b}", input_tokens=400, output_tokens=60)


def write_pairs(path: Path, n: int, seed: int) -> Path:
    with open(path, "w") as f:
        for i in range(n):
            gold_a = uniform(seed, i, "side") < 0.5
            good, bad = f"Pair {i}: one answer. {GOLD}", f"Pair {i}: another answer."
            row = {"id": f"p{i}", "prompt": f"Question {i}?", "a": good if gold_a else bad, "b": bad if gold_a else good, "label": "a" if gold_a else "b"}
            f.write(json.dumps(row) + "\n")
    return path


def pct(m: dict) -> str:
    v, lo, hi = m.get("value"), m.get("lo"), m.get("hi")
    if v is None:
        return "n/a"
    return f"{100 * v:5.1f}% [{100 * lo:4.1f}, {100 * hi:4.1f}]" if lo is not None else f"{100 * v:5.1f}%"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pairs", type=int, default=200)
    ap.add_argument("--p", type=float, default=0.65, help="each neuron evaluation favours the gold answer with this probability")
    ap.add_argument("--herding", type=float, default=0.0, help="layer >= 2: probability of following what the neuron read")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--widths", default="1,2,4,8")
    ap.add_argument("--depths", default="1,2")
    ap.add_argument("--tie-margin", type=float, default=0.5, help="the network's tie margin (points of mean score difference)")
    ap.add_argument("--concurrency", type=int, default=32)
    args = ap.parse_args(argv)

    server = LoopbackServer(hook=NoisyNeurons(args.p, args.herding, args.seed), record=False).start()
    os.environ["ARENA_BENCH_KEY"] = "sk-bench"
    rows = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            tmp = Path(tmp)
            pairs = read_pairs(write_pairs(tmp / "pairs.jsonl", args.pairs, args.seed))
            print(
                f"{args.pairs} labelled pairs; each neuron favours gold with p = {args.p}, herding = {args.herding}, "
                f"tie margin = {args.tie_margin}, seed = {args.seed}"
            )
            print(
                f"{'width':>5} {'depth':>5} {'calls/pair':>10}  {'accuracy (per game)':<22} {'JudgeBench score':<22} "
                f"{'tie rate':>8} {'right when decided':>18} {'s':>5}"
            )
            for depth in map(int, args.depths.split(",")):
                for width in map(int, args.widths.split(",")):
                    preset = tmp / f"net-w{width}-d{depth}.toml"
                    preset.write_text(
                        f'kind = "network"\nmodel = "openai/noisy"\napi_base = "{server.api_base}"\napi_key_env = "ARENA_BENCH_KEY"\n'
                        f'width = {width}\ndepth = {depth}\ndecision = "mean"\ntie_margin = {args.tie_margin}\nmax_tokens = 64\n'
                        f"concurrency = {args.concurrency}\ntimeout = 30\nmax_retries = 2\n"
                    )
                    store = Store(":memory:")
                    before = server.requests
                    t0 = time.perf_counter()
                    run = evaluate_judge(str(preset), pairs, store=store, concurrency=args.concurrency, backoff_base=0.01)
                    elapsed = time.perf_counter() - t0
                    calls = (server.requests - before) / args.pairs
                    res = build_result(pairs, run.games, judge={"name": preset.stem, "kind": "network"}, source="eval", replicates=1000, seed=args.seed)
                    m = res["metrics"]
                    store.close()
                    rows.append((width, depth, calls, m["accuracy"], m["judgebench_score"], m["tie_rate"]))
                    undecided = m["tie_rate"]["value"] + m["unparsed_rate"]["value"] + m["error_rate"]["value"]
                    decided = m["accuracy"]["value"] / (1 - undecided) if undecided < 1 else float("nan")
                    print(
                        f"{width:>5} {depth:>5} {calls:>10.0f}  {pct(m['accuracy']):<22} {pct(m['judgebench_score']):<22} "
                        f"{100 * m['tie_rate']['value']:7.1f}% {100 * decided:17.1f}% {elapsed:5.1f}",
                        flush=True,
                    )
    finally:
        server.stop()
    ok = all(r[2] == 1 + 2 * r[0] * r[1] for r in rows)
    print("calls per pair equal 1 + 2 x width x depth:", "yes" if ok else "NO")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
