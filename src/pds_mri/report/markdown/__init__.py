"""The Markdown outputs: results.md, diagnosis.md, MODEL_CARD.md."""
