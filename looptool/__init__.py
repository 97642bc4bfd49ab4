"""LoopTool engine: closed-loop tool-calling data synthesis and GRPO training.

The orchestrator side of the package (everything importable from here) never imports
torch, vllm, verl or trl: those live in separate runtime environments and are driven as
subprocesses, so the engine stays light and their dependency pins never meet.
"""

__version__ = "0.1.0"
