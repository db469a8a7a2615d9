"""twinsim_sweep_test: a scenario file as a sharded Bazel test, plus a target that merges the
shards' reports.

    load("//scenarios:sweep.bzl", "twinsim_sweep_test")
    twinsim_sweep_test(name = "smoke_sweep", scenario = "smoke.toml", shard_count = 2)

`bazel test :smoke_sweep` runs the scenario's cases spread over `shard_count` shards (each
runs `twinsim sweep --shard I/N`, Bazel's TEST_SHARD_INDEX / TEST_TOTAL_SHARDS, so remote
execution can put shards on different machines); a shard fails when one of its cases fails,
e.g. an init case breaks a property its seed policy claims. Each shard's records and report go
to TEST_UNDECLARED_OUTPUTS_DIR (bazel-testlogs/<pkg>/<name>/shard_*/test.outputs/).
`bazel run :smoke_sweep_merge -- OUT_DIR [TESTLOGS_DIR]` merges those into one report.
"""

def twinsim_sweep_test(name, scenario, shard_count = 1, size = "small", jobs = 2, **kwargs):
    """A sharded sh_test running `scenario`, and `<name>_merge` merging its shards' reports.

    Args:
      name: the test's name; the merge target is name + "_merge".
      scenario: the scenario file (a label).
      shard_count: how many shards Bazel runs.
      size: the test size.
      jobs: cases each shard runs at a time.
      **kwargs: passed to the sh_test (tags, timeout, ...).
    """
    native.sh_test(
        name = name,
        srcs = ["//scenarios:run_sweep_shard.sh"],
        args = ["$(location %s)" % scenario, str(jobs)],
        data = [scenario, "//:twinsim"],
        shard_count = shard_count,
        size = size,
        **kwargs
    )
    native.sh_binary(
        name = name + "_merge",
        srcs = ["//scenarios:merge_sweep_shards.sh"],
        args = [native.package_name() + "/" + name],
        data = ["//:twinsim"],
    )
