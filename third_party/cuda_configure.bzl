"""Repository rule exposing the local CUDA toolkit (headers, cudart, NCCL, nvcc) to Bazel.

Reads $CUDA_HOME (default /usr/local/cuda). Only the toolkit's include/, lib64/ and bin/
folders are linked in; nothing is downloaded. A missing toolkit is a clear error naming the
path, since tools/setup requires nvcc.
"""

_BUILD = """
package(default_visibility = ["//visibility:public"])

cc_library(
    name = "cuda_headers",
    # Every file under include/: CUDA 13's CCCL headers (nv/target, cuda/std/...) have no
    # extension.
    hdrs = glob(["include/**"], allow_empty = False),
    includes = ["include"],
)

cc_library(
    name = "cudart",
    linkopts = [
        "-L{home}/lib64",
        "-Wl,-rpath,{home}/lib64",
        "-lcudart",
    ],
    deps = [":cuda_headers"],
)

cc_library(
    name = "nccl",
    linkopts = [
        "-L{home}/lib64",
        "-Wl,-rpath,{home}/lib64",
        "-lnccl",
    ],
    deps = [":cuda_headers"],
)

filegroup(
    name = "nvcc",
    srcs = ["bin/nvcc"],
)
"""

def _cuda_configure_impl(rctx):
    home = rctx.os.environ.get("CUDA_HOME", "/usr/local/cuda")
    nvcc = rctx.path(home + "/bin/nvcc")
    if not nvcc.exists:
        fail("twinsim: nvcc not found at %s (set CUDA_HOME or run tools/setup)" % nvcc)
    for sub in ["include", "lib64", "bin"]:
        rctx.symlink(home + "/" + sub, sub)
    rctx.file("WORKSPACE", "workspace(name = \"%s\")\n" % rctx.name)
    rctx.file("BUILD", _BUILD.format(home = home))
    rctx.file("cuda_home.bzl", "CUDA_HOME = \"%s\"\n" % home)

cuda_configure = repository_rule(
    implementation = _cuda_configure_impl,
    environ = ["CUDA_HOME"],
    local = True,
)
