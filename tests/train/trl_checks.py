"""Run inside the TRL runtime env by test_trl_runtime.py: compare two HF dirs and generate.

Usage: python trl_checks.py INIT_DIR TRAINED_DIR  -> prints RESULT {"max_abs_diff", "tensors", "generated"}
"""

import json
import os
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

init = AutoModelForCausalLM.from_pretrained(sys.argv[1], dtype=torch.float32).state_dict()
model = AutoModelForCausalLM.from_pretrained(sys.argv[2], dtype=torch.float32)
tokenizer = AutoTokenizer.from_pretrained(sys.argv[2])
trained = model.state_dict()
diff = max((trained[k] - v).abs().max().item() for k, v in init.items())
prompt = tokenizer.apply_chat_template(
    [{"role": "user", "content": "weather in paris?"}], add_generation_prompt=True, return_tensors="pt", return_dict=True
)
out = model.generate(**prompt, max_new_tokens=8, do_sample=False)
print("RESULT " + json.dumps({"max_abs_diff": diff, "tensors": len(init), "generated": int(out.shape[-1] - prompt["input_ids"].shape[-1])}))
