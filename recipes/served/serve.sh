#!/usr/bin/env bash
# vllm serve of a (tiny) local chat model on the CPU, as `tiny-chat`: `bash serve.sh MODEL_DIR [PORT]`.
# VLLM_ENABLE_V1_MULTIPROCESSING=0 keeps the engine in the server's process (starts in seconds here); one
# OpenMP thread leaves the other core to `arena tournament`, which shares the machine.
set -euo pipefail
model="${1:?usage: serve.sh MODEL_DIR [PORT]}"
port="${2:-8000}"
export VLLM_ENABLE_V1_MULTIPROCESSING=0 OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
exec python -m vllm.entrypoints.openai.api_server --model "$model" --served-model-name tiny-chat \
    --host 127.0.0.1 --port "$port" --max-model-len 1024 --dtype float32 --enforce-eager \
    --kv-cache-memory-bytes $((128 << 20)) --disable-log-stats
