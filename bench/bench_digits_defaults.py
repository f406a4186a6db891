"""Digits, 5-fold, scaled: BPSOMClassifier's defaults against its alternatives and MLPClassifier.

Run: python bench/bench_digits_defaults.py [--dataset digits|iris|wine|breast_cancer] [--only NAME ...]
Prints mean +- std accuracy and seconds per fold for each configuration,
measured side by side on this machine (the same folds for all).
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
from sklearn import datasets as skdata
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import StratifiedKFold
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from bpsom_core.tabular import BPSOMClassifier

CONFIGS = {
    "BPSOMClassifier() (online)": lambda: BPSOMClassifier(random_state=0),
    "BPSOMClassifier(solver='minibatch')": lambda: BPSOMClassifier(solver="minibatch", random_state=0),
    "BPSOMClassifier(loss='cross_entropy')": lambda: BPSOMClassifier(loss="cross_entropy", random_state=0),
    "BPSOMClassifier(solver='minibatch', loss='cross_entropy')":
        lambda: BPSOMClassifier(solver="minibatch", loss="cross_entropy", random_state=0),
    "MLPClassifier((20,))": lambda: MLPClassifier((20,), random_state=0),
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", nargs="*", help="substrings of the configuration names to run")
    ap.add_argument("--dataset", default="digits", choices=("digits", "iris", "wine", "breast_cancer"))
    args = ap.parse_args()
    X, y = getattr(skdata, f"load_{args.dataset}")(return_X_y=True)
    folds = list(StratifiedKFold(5, shuffle=True, random_state=0).split(X, y))
    print(f"{args.dataset} ({len(y)} examples, {X.shape[1]} features), 5-fold stratified, StandardScaler")
    for name, make in CONFIGS.items():
        if args.only and not any(o in name for o in args.only):
            continue
        accs, secs = [], []
        for tr, te in folds:
            model = make_pipeline(StandardScaler(), make())
            t0 = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                model.fit(X[tr], y[tr])
            secs.append(time.perf_counter() - t0)
            accs.append(model.score(X[te], y[te]))
        print(f"  {name:<58} accuracy {np.mean(accs):.3f} +- {np.std(accs):.3f}   "
              f"{np.mean(secs):5.2f} s per fold", flush=True)


if __name__ == "__main__":
    main()
