"""A chat template for the tiny test model: ChatML's shape with the tiny tokenizer's own special tokens,
`<|bos|>role\\ncontent<|eos|>\\n` per turn, `<|bos|>assistant\\n` as the generation prompt. Its end of turn
is a special token (the EOS), which a completion must keep exactly as the template writes it."""

from __future__ import annotations

from arena.tiny import BOS_TOKEN, EOS_TOKEN

CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '" + BOS_TOKEN + "' + message['role'] + '\\n' + message['content'] + '" + EOS_TOKEN + "' + '\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '" + BOS_TOKEN + "assistant\\n' }}{% endif %}"
)
