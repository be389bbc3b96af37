"""Metadata quality per merged dataset, following data.europa.eu's MQA (indicators.py, score.py, vocab.py)."""
