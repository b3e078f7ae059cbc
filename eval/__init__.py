"""Evaluation: datasets, retrieval and answer metrics, grounding, reports (`newsrag eval`)."""
