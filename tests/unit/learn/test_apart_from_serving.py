"""Training code lives apart from serving: building and using the gateway imports none of it."""

from __future__ import annotations

import subprocess
import sys


def test_serving_imports_no_training_code() -> None:
    code = (
        "import sys\n"
        "from router.app import create_app\n"
        "from router.classify.classifier import Classifier\n"
        "from router.classify.learned import LearnedScorer\n"
        "from router.classify.tokens import TokenCounter\n"
        "Classifier(TokenCounter()).classify({'messages': [{'role': 'user', 'content': 'hi'}]}, LearnedScorer.from_package())\n"
        "print(sorted(m for m in sys.modules if m.startswith('router.learn') or m.split('.')[0] in ('scipy', 'sklearn', 'matplotlib')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
