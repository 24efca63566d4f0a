"""The baseline: the original tutorial's design, for bench/serve.py.

A Flask development server, one text per ``GET /analyze``, scored with the
scikit-learn pipeline's ``predict_proba`` on each request.

Usage: python bench/tutorial_flask_app.py MODEL_DIR PORT
   or: TUTORIAL_MODEL_DIR=MODEL_DIR gunicorn -w 2 --chdir bench tutorial_flask_app:app
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from flask import Flask, request

from sentikit.model import load_model

app = Flask(__name__)
pipeline = load_model(Path(os.environ.get("TUTORIAL_MODEL_DIR") or sys.argv[1])).pipeline


@app.route("/analyze")
@app.route("/predict")
def analyze() -> str:
    text = request.args.get("text", "")
    return str(pipeline.predict_proba([text])[0][1])


if __name__ == "__main__":
    # Flask's default since 1.0: threaded development server.
    app.run(host="127.0.0.1", port=int(sys.argv[2]))
