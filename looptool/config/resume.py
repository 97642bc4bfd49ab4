"""Opening a run directory with a config: a new run records it, a resumed run must match it.

See looptool.config.stage_keys for which keys shape which stages. A change that only touches
stages not yet started (or operational keys such as concurrency and URLs) is accepted and
recorded in the manifest; a change to a stage that already ran is refused with the diff, unless
`--allow-config-change` says to go on (recorded too).
"""

from __future__ import annotations

import time
from pathlib import Path

from looptool.config.load import LoadedConfig
from looptool.config.stage_keys import config_conflicts, jsonable_changes
from looptool.errors import ConfigError
from looptool.store.atomic import atomic_write_json, read_json
from looptool.store.run import RunStore


class ConfigChanged(ConfigError):
    """The config differs from the one a run started with, for stages that already ran."""


def open_run_config(store: RunStore, loaded: LoadedConfig) -> None:
    """Check `loaded` against the run's resolved config (if the run has started), then save it."""
    resolved = loaded.config.model_dump(mode="json")
    previous_path = store.root / "config.resolved.json"
    previous = read_json(previous_path)
    started = store.started_stages()
    if previous is not None and started:
        changes, conflicts = config_conflicts(previous, resolved, started)
        if conflicts and not store.policy.allow_config_change:
            listed = "\n".join(f"  {line}" for line in conflicts)
            raise ConfigChanged(
                loaded.source,
                None,
                f"differs from the config run {store.root} started with ({previous_path}), for stages already run:\n{listed}\n"
                f"Resume with the original config ({store.root / 'config.toml'}), use a new run.dir, "
                "or pass --allow-config-change to go on (the change is recorded in the manifest).",
            )
        if changes:
            manifest = store.manifest()
            manifest.setdefault("config_changes", []).append(
                {
                    "at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                    "changes": jsonable_changes(changes),
                    "affects_stages_already_run": [line.split(":", 1)[0] for line in conflicts],
                    "allowed_by": "--allow-config-change" if conflicts else "only stages not yet run (or operational keys) changed",
                }
            )
            atomic_write_json(store.manifest_path, manifest)
    store.save_config(Path(loaded.source), resolved)
