// Provenance: where in a real framework's source a twinsim model comes from.
//
// A verdict about a framework ("megatron fails parity", "static offloads every optimizer chunk")
// is only worth the model behind it, so every seed policy and placement policy that models a
// framework names the code it follows: repository, release or commit, file, function and lines
// (DESIGN.md, "Fidelity"). `twinsim show policy NAME` prints it.
#ifndef TWINSIM_CORE_PROVENANCE_H_
#define TWINSIM_CORE_PROVENANCE_H_

#include <string>
#include <vector>

namespace twinsim::core {

// One upstream source a model follows.
struct SourceRef {
  std::string repository;  // "NVIDIA/Megatron-LM"
  std::string release;     // a tag ("v0.14.0") or a commit ("d98e8a64"); never "main"
  std::string file;        // "megatron/core/tensor_parallel/random.py"
  std::string function;    // "model_parallel_cuda_manual_seed"
  int first_line = 0;      // 1-based, inclusive; 0 when the whole function is meant
  int last_line = 0;
  std::string fact;  // what twinsim takes from it, one sentence
};

// What a model models and where its code disagrees with its documentation or with twinsim.
struct Provenance {
  std::vector<SourceRef> sources;  // the upstream code the model follows, in reading order
  // Where the framework's code and its own documentation disagree (twinsim models the code),
  // or where twinsim departs from the code on purpose; one sentence each.
  std::vector<std::string> deviations;
  // twinsim's own scheme, with no upstream: sources is then empty.
  bool twinsim_own = false;
};

// "NVIDIA/Megatron-LM@d98e8a64 megatron/core/tensor_parallel/random.py:446-519
// (model_parallel_cuda_manual_seed)".
std::string FormatSourceRef(const SourceRef& ref);

}  // namespace twinsim::core

#endif  // TWINSIM_CORE_PROVENANCE_H_
