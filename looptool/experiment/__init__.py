"""`looptool experiment`: does training on the engine's data with its reward make a real model better,
and do GCP, JGLV and EDDE add to it? A known-truth world, a real tiny policy, equal GRPO budgets."""
