"""The manifest keys (and run subdirectories) of the seed stages, in one neutral module.

A stage that reads another stage's output names the producer's key from here instead of importing
the producer's module, so the seed stages import each other only where they share code.
"""

APIS = "seed/apis"
POOL = "seed/pool"
DIALOGS = "seed/dialogs"
VERIFY = "seed/verify"
SAMPLES = "seed/samples"
