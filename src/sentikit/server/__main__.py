"""``python -m sentikit.server``: serve the model named by the environment (as ``python -m sentikit.serve``)."""

from .run import main

raise SystemExit(main())
