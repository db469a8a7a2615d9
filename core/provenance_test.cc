#include "core/provenance.h"

#include <gtest/gtest.h>

namespace twinsim::core {
namespace {

TEST(ProvenanceTest, FormatsRepositoryReleaseFileLinesAndFunction) {
  SourceRef ref{.repository = "NVIDIA/Megatron-LM",
                .release = "d98e8a64",
                .file = "megatron/core/tensor_parallel/random.py",
                .function = "model_parallel_cuda_manual_seed",
                .first_line = 446,
                .last_line = 519};
  EXPECT_EQ(FormatSourceRef(ref),
            "NVIDIA/Megatron-LM@d98e8a64 megatron/core/tensor_parallel/random.py:446-519 "
            "(model_parallel_cuda_manual_seed)");
  ref.last_line = 446;
  ref.function.clear();
  EXPECT_EQ(FormatSourceRef(ref),
            "NVIDIA/Megatron-LM@d98e8a64 megatron/core/tensor_parallel/random.py:446");
}

}  // namespace
}  // namespace twinsim::core
