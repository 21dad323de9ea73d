"""A/B experiments under the hood: checks and judges, the resumable runner, statistics, promptfoo interop."""
