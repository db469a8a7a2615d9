// Resolve: an InitSpec (torch.nn.init vocabulary, core/init_spec.h) to the Transform that
// kernels evaluate: one of four primitives with float parameters.
//
// Resolution happens once, on the host, in double precision exactly as torch.nn.init computes
// bounds in Python floats, rounding each final parameter to float once. Only Transforms reach
// kernels, so the host and CUDA builds evaluate identical float arithmetic on identical inputs.
#ifndef TWINSIM_KERNELS_RESOLVE_H_
#define TWINSIM_KERNELS_RESOLVE_H_

#include "core/init_spec.h"
#include "core/status.h"
#include "kernels/transform.h"

namespace twinsim::kernels {

// Fails with InvalidArgument when ValidateInitSpec does, or when a trunc_normal window holds no
// probability mass once rounded to float. Thread-safe; pure.
StatusOr<Transform> Resolve(const core::InitSpec& spec);

}  // namespace twinsim::kernels

#endif  // TWINSIM_KERNELS_RESOLVE_H_
