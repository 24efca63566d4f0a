"""``python -m sentikit.server``: serve the model named by the environment (the image's entry point)."""

from .run import main

raise SystemExit(main())
