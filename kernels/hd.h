// Portability macros for code compiled both by the host compiler and by nvcc.
//
// Every function in kernels/ that runs on both sides is marked TWINSIM_HD. Under nvcc it
// becomes __host__ __device__ and force-inlined; under g++ it is a plain inline function.
#ifndef TWINSIM_KERNELS_HD_H_
#define TWINSIM_KERNELS_HD_H_

#if defined(__CUDACC__)
#define TWINSIM_HD __host__ __device__ __forceinline__
#else
#define TWINSIM_HD inline __attribute__((always_inline))
#endif

#endif  // TWINSIM_KERNELS_HD_H_
