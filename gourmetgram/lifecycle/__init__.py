"""The lifecycle steps both targets share: rules, registry operations, the staging test,
the Target interface and the step sequence. `python -m gourmetgram.lifecycle --help` is
the CLI the Argo workflow steps run inside the training image."""
