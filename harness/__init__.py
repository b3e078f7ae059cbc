"""The reliability and speed harness: fault and crash trials (`faults`), fuzzing (`fuzz`), soaks
(`soak`), HTTP load (`loadtest`), benchmarks (`bench`), the local LLM for the generative
benchmark (`localllm`) and the synthetic articles they need (`synth`).

It sits above every other package (it drives `ui.server` and the CLI) and nothing but its CLI
entry (`newsrag bench`, `python -m harness.<module>`) and the tests imports it. Quality
evaluation on real question sets is `eval/`.
"""
