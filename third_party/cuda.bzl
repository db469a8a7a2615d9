"""cuda_library: compiles .cu sources with nvcc into a cc_library.

Each source becomes one object file built by a genrule that runs nvcc with machine code for
sm_80 (A100) and sm_90 (H100/H200) plus compute_90 PTX for newer GPUs. Device arithmetic is
kept bit-exact with the host build: no fused multiply-add contraction (--fmad=false), IEEE
division and square root, no flush-to-zero (see Note [Bit-exact host and device] in
kernels/README.md). The host side of the .cu goes through g++ with -ffp-contract=off as well.

Usage:
    cuda_library(
        name = "fill_cuda",
        srcs = ["fill_cuda.cu"],
        hdrs = ["fill_cuda.h"],
        cuda_hdrs = [":kernel_headers"],  # headers the .cu includes, as files or filegroups
        deps = [":fill"],
    )
"""

load("@local_cuda//:cuda_home.bzl", "CUDA_HOME")

_GPU_ARCH_FLAGS = (
    "-gencode arch=compute_80,code=sm_80 " +
    "-gencode arch=compute_90,code=sm_90 " +
    "-gencode arch=compute_90,code=compute_90"
)

_NVCC_FLAGS = (
    "-std=c++20 -O3 --fmad=false -prec-div=true -prec-sqrt=true -ftz=false " +
    "-ccbin /usr/bin/g++ -Xcompiler -fPIC -Xcompiler -ffp-contract=off " +
    "--expt-relaxed-constexpr -I. -I$(GENDIR)"
)

def cuda_library(name, srcs, hdrs = [], cuda_hdrs = [], deps = [], nvcc_flags = "", **kwargs):
    objs = []
    for src in srcs:
        stem = src.rsplit(".", 1)[0].replace("/", "_")
        obj = "_nvcc/%s/%s.o" % (name, stem)
        native.genrule(
            name = "%s_nvcc_%s" % (name, stem),
            srcs = [src] + hdrs + cuda_hdrs,
            outs = [obj],
            # nvcc finds its headers next to itself, so it runs from the toolkit's real path.
            cmd = ("%s/bin/nvcc %s %s %s -c $(location %s) -o $@" %
                   (CUDA_HOME, _NVCC_FLAGS, _GPU_ARCH_FLAGS, nvcc_flags, src)),
            message = "nvcc %s" % src,
        )
        objs.append(obj)
    native.cc_library(
        name = name,
        srcs = objs,
        hdrs = hdrs,
        deps = deps + ["@local_cuda//:cudart"],
        **kwargs
    )

def cuda_ptx(name, src, cuda_hdrs = [], arch = "90"):
    """PTX of `src` for compute_`arch`, built with cuda_library's flags: for static checks of
    the instructions nvcc emits (no fused multiply-add, no approximate math)."""
    native.genrule(
        name = name,
        srcs = [src] + cuda_hdrs,
        outs = [name + ".ptx"],
        cmd = ("%s/bin/nvcc %s -arch=compute_%s --ptx $(location %s) -o $@" %
               (CUDA_HOME, _NVCC_FLAGS, arch, src)),
        message = "nvcc --ptx %s" % src,
    )
