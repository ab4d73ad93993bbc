"""Bucketed all-reduce (`arena.training.buckets`): two gloo processes sum the same gradients as one
all-reduce per parameter and as one process accumulating both shares, bit for bit, with buckets launched
during backward; the bucket plan and the environment setting."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from arena.errors import ArenaError
from arena.training.buckets import BUCKET_ENV, GradientBuckets, bucket_bytes_from_env, plan_buckets

REPO = Path(__file__).resolve().parents[2]
CHUNK = 4  # several LM-head chunks per sequence: the head is called (and checkpointed) apart from the body


def tiny_model() -> torch.nn.Module:
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=300,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=3,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=64,
        tie_word_embeddings=False,
    )
    torch.manual_seed(0)
    return LlamaForCausalLM(config)


def micro_batch_loss(model: torch.nn.Module, rank: int, index: int) -> torch.Tensor:
    """The sum of chunked log-probs of a batch that depends only on (rank, micro-batch index)."""
    from arena.generation.logprobs import token_logprobs

    generator = torch.Generator().manual_seed(1000 * rank + index)
    ids = torch.randint(0, 300, (2, 12), generator=generator)
    attention = torch.ones_like(ids)
    completion = torch.zeros_like(ids)
    completion[:, 4:] = 1
    return -token_logprobs(model, ids, attention, completion, chunk_size=CHUNK).sum()


def _worker(rank: int, store: str, out: str, bucket_bytes: int) -> None:
    import torch.distributed as dist

    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=2)
    try:
        results = {}
        for mode in ("buckets", "per-parameter"):
            model = tiny_model()
            buckets = GradientBuckets(list(model.parameters()), bucket_bytes) if mode == "buckets" else None
            for index in range(2):  # gradient accumulation: only the second backward reduces
                if buckets is not None and index == 1:
                    buckets.arm()
                micro_batch_loss(model, rank, index).backward()
            if buckets is not None:
                launched = buckets.launched_in_backward
                buckets.finish()
                results["launched_in_backward"] = launched
                results["bucket_count"] = len(buckets.buckets)
                # Each bucket's gradients are views of one flat tensor: no second copy of them.
                results["storages_per_bucket"] = [
                    len({p.grad.untyped_storage().data_ptr() for p in bucket}) for bucket in buckets.buckets
                ]
            else:
                for parameter in model.parameters():
                    dist.all_reduce(parameter.grad)
            results[mode] = {name: p.grad.clone() for name, p in model.named_parameters()}
        torch.save(results, Path(out) / f"rank{rank}.pt")
    finally:
        dist.destroy_process_group()


@pytest.mark.slow
def test_two_processes_sum_the_same_gradients_bucketed_and_per_parameter(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import torch.multiprocessing as mp

    # Spawned processes import this module by name with the parent's sys.path: put the repository on it.
    monkeypatch.syspath_prepend(str(REPO))

    bucket_bytes = 40_000  # about ten buckets for this model's 0.1 MB of fp32 parameters
    mp.start_processes(
        _worker, args=(str(tmp_path / "store"), str(tmp_path), bucket_bytes), nprocs=2, start_method="spawn"
    )
    ranks = [torch.load(tmp_path / f"rank{r}.pt") for r in range(2)]

    # Independent, without collectives: each process's accumulated share computed here, then added.
    shares = []
    for rank in range(2):
        model = tiny_model()
        for index in range(2):
            micro_batch_loss(model, rank, index).backward()
        shares.append({name: p.grad for name, p in model.named_parameters()})
    expected = {name: shares[0][name] + shares[1][name] for name in shares[0]}

    assert ranks[0]["bucket_count"] > 5
    assert ranks[0]["storages_per_bucket"] == [1] * ranks[0]["bucket_count"]
    # Overlap happened: every bucket but those waiting on the embedding's gradient (the last one backward
    # produces) was reduced while backward was running.
    assert ranks[0]["launched_in_backward"] >= ranks[0]["bucket_count"] - 1
    for result in ranks:
        for name, gradient in expected.items():
            assert result["buckets"][name].equal(result["per-parameter"][name]), name
            assert result["buckets"][name].equal(gradient), name
            assert gradient.abs().sum() > 0, name  # every parameter got a gradient


def test_buckets_are_contiguous_reversed_runs_under_the_size() -> None:
    parameters = [torch.zeros(n) for n in (10, 10, 30, 5, 5, 5)]  # 4 bytes each element
    buckets = plan_buckets(parameters, bucket_bytes=80)
    assert [[p.numel() for p in bucket] for bucket in buckets] == [[5, 5, 5], [30], [10, 10]]
    assert [[p.numel() for p in b] for b in plan_buckets(parameters, 0)] == [[5], [5], [5], [30], [10], [10]]
    mixed = [torch.zeros(2), torch.zeros(2, dtype=torch.bfloat16), torch.zeros(2, dtype=torch.bfloat16)]
    assert [len(b) for b in plan_buckets(mixed, 10**6)] == [2, 1]  # one dtype per flat tensor


def test_one_process_reduces_a_step_without_collectives_when_asked() -> None:
    """`finish` without a process group: the all-reduce is injected; tied parameters are counted once."""
    calls: list[int] = []

    def fake_all_reduce(flat: torch.Tensor) -> None:
        calls.append(flat.numel())
        flat.mul_(2)  # what a sum over two identical processes gives

    model = tiny_model()
    model.lm_head.weight = model.model.embed_tokens.weight  # tied
    buckets = GradientBuckets(list(model.parameters()), 10**9, all_reduce=fake_all_reduce)
    micro_batch_loss(model, 0, 0).backward()
    single = {name: p.grad.clone() for name, p in model.named_parameters()}
    model.zero_grad()
    buckets.arm()
    micro_batch_loss(model, 0, 0).backward()
    buckets.finish()
    total = sum(p.numel() for p in {id(p): p for p in model.parameters()}.values())
    assert calls == [total]  # one bucket, each parameter once
    assert len({p.grad.untyped_storage().data_ptr() for p in model.parameters()}) == 1  # views of it
    for name, p in model.named_parameters():
        assert p.grad.equal(single[name] * 2), name


def test_the_bucket_size_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(BUCKET_ENV, raising=False)
    assert bucket_bytes_from_env() == 25 * 2**20
    monkeypatch.setenv(BUCKET_ENV, "0.5")
    assert bucket_bytes_from_env() == 2**19
    monkeypatch.setenv(BUCKET_ENV, "0")
    assert bucket_bytes_from_env() == 0
    for bad in ("lots", "-1", "nan"):
        monkeypatch.setenv(BUCKET_ENV, bad)
        with pytest.raises(ArenaError) as error:
            bucket_bytes_from_env()
        assert str(error.value) == (
            f"{BUCKET_ENV}: expected a number of MiB >= 0 (0: one all-reduce per parameter), got {bad!r}"
        )
